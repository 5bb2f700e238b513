/** Wires the pipeline's workflows and activities into a Temporal worker. */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { maxConcurrentActivities } from './capacity';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from './workflowSource';
import { jobProgressSignal, TASK_QUEUE } from '../workflows/messages';
import { projectRoot, venvPython } from '../src/paths';
import type { TemporalSettings } from '../src/client/connection';
import { connectClient } from '../src/client/temporalClient';
import { scheduleReaperOnStart } from '../src/client/reaper';
import { log } from '../src/log';
import { storeOperationCounter } from '../src/metrics';
import { recordStoreOperations } from '../src/store/counted';
import { recordEventLoopDelay } from '../src/eventLoopDelay';

export interface FineTuneWorker {
  worker: Worker;
  close(): Promise<void>;
}

export async function createFineTuneWorker(settings: TemporalSettings, taskQueue = TASK_QUEUE): Promise<FineTuneWorker> {
  // The worker's own client (progress signals) and its workers seal payloads with the same data converter.
  const { client, connection: clientConnection, dataConverter } = await connectClient(settings);
  // Served with the SDK's metrics when FINETUNE_METRICS_ADDRESS is set (src/client/runtime.ts); a no-op meter otherwise.
  recordStoreOperations(storeOperationCounter(Runtime.instance().metricMeter));
  const stopEventLoopDelay = recordEventLoopDelay(Runtime.instance().metricMeter);
  const connection = await NativeConnection.connect(settings.connection as Parameters<typeof NativeConnection.connect>[0]);
  const activities = createActivities({
    projectRoot,
    python: venvPython(),
    reportProgress: (workflowId, progress) => client.workflow.getHandle(workflowId).signal(jobProgressSignal, progress),
  });
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue,
    dataConverter,
    workflowsPath: WORKFLOWS_PATH,
    interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    activities,
    maxConcurrentActivityTaskExecutions: maxConcurrentActivities(),
  });
  // No VM outlives its run: once a worker of a GCP project has started, the project's reaper runs.
  const reaper = await scheduleReaperOnStart(client, taskQueue);
  if (!reaper.scheduled && reaper.failed) log().warn(reaper, 'reaper not scheduled');
  else log().info(reaper, reaper.scheduled ? 'reaper scheduled' : 'reaper not scheduled');
  return {
    worker,
    close: async () => {
      // A worker that never ran (the run could not be started) still holds its connection, which
      // then refuses to close and hides why the run did not start: run it to an immediate stop first.
      if (worker.getState() === 'INITIALIZED') await worker.runUntil(Promise.resolve());
      stopEventLoopDelay();
      await clientConnection.close();
      await connection.close();
    },
  };
}
