/**
 * The `finetune` command. Each subcommand lives in its own file under
 * commands/; this file wires them and turns failures into an exit code
 * (src/cli/errors.ts) and one readable message (a JSON object with --json).
 */
import { Command, CommanderError } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../paths';
import { ConfigInvalid } from '../config/parse';
import { codecKeyCommand } from './commands/codecKey';
import { codecServerCommand } from './commands/codecServer';
import { decideCommands } from './commands/decide';
import { devCommand } from './commands/dev';
import { evalCommand } from './commands/eval';
import { imageCommand } from './commands/image';
import { planCommand } from './commands/plan';
import { modelsCommand } from './commands/models';
import { reapCommand } from './commands/reap';
import { reportCommand } from './commands/report';
import { runCommand } from './commands/run';
import { scheduleCommand } from './commands/schedule';
import { statusCommand } from './commands/status';
import { validateCommand } from './commands/validate';
import { watchCommand } from './commands/watch';
import { EXIT, exitCodeOf, messageOf } from './errors';
import { configureLog } from '../log';

export function buildProgram(): Command {
  const program = new Command('finetune')
    .description(
      'Fine-tune and own an LLM as a durable Temporal workflow.\nTemporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH (docs/operating.md).',
    )
    .version((JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version)
    .option('--json', 'machine-readable output: one JSON document on stdout')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  validateCommand(program);
  planCommand(program);
  runCommand(program);
  statusCommand(program);
  watchCommand(program);
  decideCommands(program);
  reportCommand(program);
  scheduleCommand(program);
  reapCommand(program);
  evalCommand(program);
  modelsCommand(program);
  imageCommand(program);
  devCommand(program);
  codecServerCommand(program);
  codecKeyCommand(program);
  program.addHelpText('after', '\nExit codes: 0 ok, 1 the run failed or was cancelled, 2 bad input or config, 3 no such run or schedule, 4 Temporal unreachable.');
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  // The CLI's own output is stdout (one JSON document with --json); its warnings, such as the
  // codec key file made on first use, go to stderr. `finetune dev` sets its worker's logging itself.
  configureLog({ level: 'warn', fd: 2 });
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with exitCode 0; a usage mistake is bad input.
      return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    const exitCode = exitCodeOf(err);
    const message = messageOf(err);
    process.stderr.write(`finetune: ${message}\n`);
    if (json) {
      const issues = err instanceof ConfigInvalid ? err.issues : undefined;
      process.stdout.write(`${JSON.stringify({ error: message, exitCode, ...(issues ? { issues } : {}) })}\n`);
    }
    if (exitCode === EXIT.runFailed && process.env.FINETUNE_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return exitCode;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
