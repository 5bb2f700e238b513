/**
 * How much one worker process takes on at once. Each running stage holds one
 * runJob activity for its whole length (hours of SFT, mostly waiting on the
 * store), so activity slots bound the runs a worker can carry, not its CPU:
 * with the SDK's default of 100, the 101st concurrent run's job would wait for
 * a slot until another stage ended (bench:scale at 200 runs showed activity
 * schedule-to-start p99 of 6 s on 50-second simulated runs).
 */
export const MAX_ACTIVITIES_ENV = 'FINETUNE_WORKER_MAX_ACTIVITIES';
export const DEFAULT_MAX_ACTIVITIES = 1000;

export class WorkerSettingsInvalid extends Error {
  readonly name = 'WorkerSettingsInvalid';
}

export function maxConcurrentActivities(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[MAX_ACTIVITIES_ENV];
  if (text === undefined || text === '') return DEFAULT_MAX_ACTIVITIES;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 2) {
    throw new WorkerSettingsInvalid(
      `${MAX_ACTIVITIES_ENV}=${JSON.stringify(text)} is not a whole number of at least 2: set it to the activities one worker may run at once (default ${DEFAULT_MAX_ACTIVITIES})`,
    );
  }
  return n;
}
