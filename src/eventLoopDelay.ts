/**
 * How late this process's event loop runs, as a histogram on the metrics
 * endpoint (finetune_worker_event_loop_delay, ms): each second's longest
 * delay. A worker's main thread carries every workflow activation to the
 * workflow thread and its completion back to the server, and also runs the
 * activities' own JavaScript (every runJob's store polls), so a busy or
 * starved main thread shows up here first, while the SDK's execution latency
 * only says a task was slow, not why. Without FINETUNE_METRICS_ADDRESS the
 * meter is a no-op.
 */
import type { MetricMeter } from '@temporalio/common';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Starts recording; the function returned stops it. */
export function recordEventLoopDelay(meter: MetricMeter, everyMs = 1000): () => void {
  const delays = monitorEventLoopDelay({ resolution: 10 });
  delays.enable();
  const worst = meter.createHistogram('finetune_worker_event_loop_delay', 'float', 'ms', "the event loop's longest delay in each second");
  const timer = setInterval(() => {
    // max is in ns; the timer's own lateness is in it, so a stall longer than a second is counted whole.
    if (delays.count > 0) worst.record(delays.max / 1e6);
    delays.reset();
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    delays.disable();
  };
}
