/** The worker process: `node dist/workers/main.js`, configured by TEMPORAL_* variables. */
import { temporalSettings } from '../src/client/connection';
import { installRuntime } from '../src/client/runtime';
import { createFineTuneWorker } from './worker';

async function main(): Promise<void> {
  installRuntime('INFO');
  const { worker, close } = await createFineTuneWorker(temporalSettings(), process.env.FINETUNE_TASK_QUEUE);
  const stop = (): void => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
