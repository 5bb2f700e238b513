/**
 * The Temporal SDK runtime for our processes: its logs go through our level
 * (FINETUNE_LOG_LEVEL, default WARN) so a demo's output stays readable.
 * With FINETUNE_METRICS_ADDRESS (host:port) the SDK serves Prometheus
 * metrics there at /metrics: its own worker metrics and ours (src/metrics.ts).
 * Must run before any Worker or connection is created.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

export function installRuntime(defaultLevel = 'WARN'): void {
  if (installed) return;
  installed = true;
  const level = (process.env.FINETUNE_LOG_LEVEL ?? defaultLevel).toUpperCase() as LogLevel;
  const metricsAddress = process.env.FINETUNE_METRICS_ADDRESS;
  Runtime.install({
    logger: new DefaultLogger(level),
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } } : {}),
  });
}
