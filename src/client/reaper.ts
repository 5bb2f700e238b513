/**
 * The reaper's schedule: every `every`, run the reapOrphanHosts workflow on
 * the worker's task queue. `finetune reap --schedule` creates or updates it;
 * every worker that knows its GCP project creates it at start when it is
 * missing (scheduleReaperOnStart), so no VM waits for a user to remember it.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { ReapInput } from '../../activities/reaper';
import { TASK_QUEUE } from '../../workflows/messages';

export interface ReaperScheduleOptions extends ReapInput {
  scheduleId?: string;
  taskQueue?: string;
  every?: Duration;
  /** Leave a schedule that already exists as it is (a worker starting): its interval may be tuned, or it may be paused. */
  keepExisting?: boolean;
}

/** One schedule per GCP project, so workers of several projects in one namespace each reap their own. */
export function reaperScheduleId(project: string): string {
  return `durable-finetune-reaper-${project}`;
}

export const DEFAULT_REAPER_EVERY = '30m';

export async function ensureReaperSchedule(client: Client, opts: ReaperScheduleOptions): Promise<ScheduleHandle> {
  const { scheduleId = reaperScheduleId(opts.project), taskQueue = TASK_QUEUE, every = DEFAULT_REAPER_EVERY, keepExisting = false, ...input } = opts;
  const spec = { intervals: [{ every }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reapOrphanHosts',
    workflowId: `${scheduleId}-run`,
    args: [input],
    taskQueue,
  };
  try {
    return await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP } });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const handle = client.schedule.getHandle(scheduleId);
    if (!keepExisting) await handle.update((prev) => ({ ...prev, spec, action }));
    return handle;
  }
}

/** A reaper interval as users write it (30m, 6h): the problem with it, or null. */
export function reaperIntervalProblem(every: string): string | null {
  return /^\d+(s|m|h|d)$/.test(every) ? null : `${every}: use a number and a unit, e.g. 30m, 6h`;
}

export type ReaperOnStart = { scheduled: true; scheduleId: string; project: string; every: string } | { scheduled: false; why: string; failed?: true };

/**
 * What a worker does as it starts: with a GCP project (GOOGLE_CLOUD_PROJECT) the
 * project's reaper schedule exists afterwards (created when missing; a second
 * worker finds it and changes nothing). FINETUNE_REAPER=off opts out; another
 * value of FINETUNE_REAPER is the interval of a schedule this creates. A bad
 * value stops the worker; a server that refuses the schedule does not.
 */
export async function scheduleReaperOnStart(client: Client, taskQueue: string, env: NodeJS.ProcessEnv = process.env): Promise<ReaperOnStart> {
  const setting = env.FINETUNE_REAPER?.trim() || DEFAULT_REAPER_EVERY;
  if (setting === 'off') return { scheduled: false, why: 'FINETUNE_REAPER=off' };
  const project = env.GOOGLE_CLOUD_PROJECT;
  if (!project) return { scheduled: false, why: 'no GCP project (set GOOGLE_CLOUD_PROJECT on the worker to reap its VMs)' };
  const problem = reaperIntervalProblem(setting);
  if (problem) throw new Error(`FINETUNE_REAPER=${problem}, or off`);
  const scheduleId = reaperScheduleId(project);
  try {
    await ensureReaperSchedule(client, { project, taskQueue, scheduleId, every: setting as `${number}m`, keepExisting: true });
  } catch (err) {
    // The worker still runs its runs (each releases its own hosts); the log says what to fix.
    return { scheduled: false, failed: true, why: `creating schedule ${scheduleId} failed: ${(err as Error).message}; run finetune reap --schedule ${setting} once it can` };
  }
  return { scheduled: true, scheduleId, project, every: setting };
}
