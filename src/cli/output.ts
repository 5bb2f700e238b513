/**
 * Where a command's words go. Human mode writes lines to stdout; with --json,
 * stdout carries exactly one JSON document for scripts and the human lines
 * move to stderr.
 */
export class Output {
  constructor(readonly json: boolean) {}

  say(line = ''): void {
    (this.json ? process.stderr : process.stdout).write(`${line}\n`);
  }

  /** The command's result: JSON on stdout with --json, else the human lines. */
  result(data: unknown, human: string[] | (() => string[])): void {
    if (this.json) {
      process.stdout.write(`${JSON.stringify(data)}\n`);
      return;
    }
    for (const l of typeof human === 'function' ? human() : human) process.stdout.write(`${l}\n`);
  }

  warn(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}
