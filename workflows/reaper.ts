/** The reaper's workflow: one activity run, started by a Temporal Schedule (src/client/reaper.ts). */
import { proxyActivities } from '@temporalio/workflow';
import type { ReapInput, ReapReport, reaperActivities } from '../activities/reaper';

const acts = proxyActivities<ReturnType<typeof reaperActivities>>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

export async function reapOrphanHosts(input: ReapInput): Promise<ReapReport> {
  return acts.reapOrphanHosts(input);
}
