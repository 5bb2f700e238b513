/**
 * Glue between commander and a command's body: the body gets the global
 * options (--json) as an Output, returns its exit code, and throws errors that
 * src/cli/errors.ts turns into exit codes and one readable message.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { Output } from './output';

export interface ActionContext<O> {
  out: Output;
  opts: O & { json?: boolean };
}

export function action<A extends unknown[], O = Record<string, unknown>>(
  body: (ctx: ActionContext<O>, ...args: A) => Promise<number | void>,
): (...params: unknown[]) => Promise<void> {
  return async (...params: unknown[]) => {
    const command = params[params.length - 1] as Command;
    const opts = command.optsWithGlobals() as O & { json?: boolean };
    const args = params.slice(0, command.registeredArguments.length) as A;
    const code = await body({ out: new Output(Boolean(opts.json)), opts }, ...args);
    process.exitCode = code ?? 0;
  };
}

/** Option parser for counts: a bad value is a usage error (exit 2), not NaN. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number >= 1, got ${value}`);
  return n;
}
