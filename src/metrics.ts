/**
 * Our own metrics, recorded through the Temporal SDK's metric meter so they
 * are served on the same Prometheus endpoint as the SDK's worker metrics
 * (FINETUNE_METRICS_ADDRESS, see src/client/runtime.ts). Without that
 * variable the meter is a no-op and recording costs nothing.
 */
import type { MetricMeter } from '@temporalio/common';

export interface PipelineMetrics {
  /** Training speed of the running stage, from the host's progress.json. */
  stepsPerSecond(stage: string, value: number): void;
  hostLost(stage: string, preempted: boolean): void;
  /** Seconds a host took to upload one checkpoint (COMMITTED.json upload_seconds). */
  checkpointUpload(stage: string, seconds: number): void;
}

export function pipelineMetrics(meter: MetricMeter): PipelineMetrics {
  const speed = meter.createGauge('finetune_training_steps_per_second', 'float', '1/s', 'training steps per second of the running stage');
  const losses = meter.createCounter('finetune_host_losses', '1', 'hosts lost (preempted, gone or silent) while running a stage');
  const upload = meter.createHistogram('finetune_checkpoint_upload_seconds', 'float', 's', 'seconds to upload one checkpoint to the store');
  return {
    stepsPerSecond: (stage, value) => speed.set(value, { stage }),
    hostLost: (stage, preempted) => losses.add(1, { stage, preempted: String(preempted) }),
    checkpointUpload: (stage, seconds) => upload.record(seconds, { stage }),
  };
}

/** Store operations by kind and scheme (file, gs): on gs:// each one is a billed request. */
export function storeOperationCounter(meter: MetricMeter): (op: string, scheme: string) => void {
  const ops = meter.createCounter('finetune_store_operations', '1', 'store operations made by this process, by operation and store scheme');
  return (op, scheme) => ops.add(1, { op, store: scheme });
}
