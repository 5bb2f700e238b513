#!/usr/bin/env node
// The `finetune` command (package.json bin): the compiled CLI in dist/.
// Build it first with `npm run setup` (npm run demo and npm test do too).
const path = require('node:path');
const fs = require('node:fs');

const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write(`finetune: ${main} is not built yet: run \`npm run setup\` in ${path.dirname(__dirname)}\n`);
  process.exit(2);
}
require(main)
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
