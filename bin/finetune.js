#!/usr/bin/env node
// The `finetune` command (package.json bin): the compiled CLI in dist/.
// Build it first with `npm run setup` (npm run demo and npm test do too).
// The project targets Node 22 (the npm package `node` installs it into
// node_modules); an older node on PATH (`npx finetune`) hands over to it.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const main = path.join(root, 'dist', 'src', 'cli', 'main.js');
const projectNode = path.join(root, 'node_modules', 'node', 'bin', 'node');
const major = Number(process.versions.node.split('.')[0]);

if (major < 22 && fs.existsSync(projectNode)) {
  const child = spawn(projectNode, [__filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Ctrl-C reaches the child through the terminal's process group; pass on a kill.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0)));
} else if (!fs.existsSync(main)) {
  process.stderr.write(`finetune: ${main} is not built yet: run \`npm run setup\` in ${root}\n`);
  process.exit(2);
} else {
  require(main)
    .main(process.argv.slice(2))
    .then((code) => process.exit(code));
}
