/**
 * Structured JSON logs (pino), one line per event, each carrying the run id
 * and stage it concerns, so a log search for a run id tells its story.
 * FINETUNE_LOG_LEVEL (trace|debug|info|warn|error) overrides the level the
 * process chose: the worker logs info to stdout, the CLI warnings to stderr so
 * its own output (and --json) stays clean.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

function create(level: string, fd: 1 | 2, copyTo?: string): Logger {
  const lvl = (process.env.FINETUNE_LOG_LEVEL ?? level).toLowerCase() as pino.Level;
  const out = pino.destination({ fd, sync: true });
  return pino(
    { level: lvl, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    copyTo
      ? pino.multistream([
          { level: lvl, stream: out },
          { level: lvl, stream: pino.destination({ dest: copyTo, sync: true, append: true }) },
        ])
      : out,
  );
}

let root = create('info', 1);

/** `copyTo` also appends every line to that file: tests search a worker's whole log (the secrets canary). */
export function configureLog(opts: { level?: string; fd?: 1 | 2; copyTo?: string }): void {
  root = create(opts.level ?? 'info', opts.fd ?? 1, opts.copyTo);
}

export function log(): Logger {
  return root;
}

/** A logger whose every line names the run (and stage, host) it is about. */
export function runLog(bindings: { runId: string; stage?: string; hostId?: string; jobId?: string }): Logger {
  return root.child(bindings);
}
