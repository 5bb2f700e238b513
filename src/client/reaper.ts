/**
 * The reaper's schedule: every `every`, run the reapOrphanHosts workflow on
 * the worker's task queue. Calling it again updates the schedule in place.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { ReapInput } from '../../activities/reaper';
import { TASK_QUEUE } from '../../workflows/messages';

export interface ReaperScheduleOptions extends ReapInput {
  scheduleId?: string;
  taskQueue?: string;
  every?: Duration;
}

export const REAPER_SCHEDULE_ID = 'durable-finetune-reaper';

export async function ensureReaperSchedule(client: Client, opts: ReaperScheduleOptions): Promise<ScheduleHandle> {
  const { scheduleId = REAPER_SCHEDULE_ID, taskQueue = TASK_QUEUE, every = '30 minutes', ...input } = opts;
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
    await handle.update((prev) => ({ ...prev, spec, action }));
    return handle;
  }
}
