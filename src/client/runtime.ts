/**
 * The Temporal SDK runtime for our processes: its logs go through our level
 * (FINETUNE_LOG_LEVEL, default WARN) so a demo's output stays readable.
 * Must run before any Worker or connection is created.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

export function installRuntime(defaultLevel = 'WARN'): void {
  if (installed) return;
  installed = true;
  const level = (process.env.FINETUNE_LOG_LEVEL ?? defaultLevel).toUpperCase() as LogLevel;
  Runtime.install({ logger: new DefaultLogger(level) });
}
