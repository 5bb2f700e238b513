/**
 * `npm run demo`: the whole pipeline on the embedded default (dev server,
 * local host, local store, the tiny example model), ending with the metrics
 * table, the report path and the UI link. `-- --json` ends stdout with one
 * JSON object instead, for scripts. It is `finetune run --worker` on the
 * tiny example, with paths read from the project root.
 */
import * as path from 'node:path';
import { projectRoot } from '../paths';
import { runPipeline } from './commands/run';
import { exitCodeOf, messageOf } from './errors';
import { Output } from './output';

function parseArgs(argv: string[]): { json: boolean; config: string } {
  const args = { json: false, config: path.join(projectRoot, 'examples/tiny/config.yaml') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') args.json = true;
    else if (argv[i] === '--config') args.config = path.resolve(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}; use --json and/or --config <file>`);
  }
  return args;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  return runPipeline(new Output(args.json), args.config, { worker: true, wait: true }, projectRoot);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${messageOf(err)}\n`);
    process.exit(exitCodeOf(err));
  },
);
