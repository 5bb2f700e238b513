/**
 * `finetune reap`: deletes GCE hosts whose run is closed or unknown (the
 * reapOrphanHosts workflow, on a worker), now or on a schedule.
 */
import type { Command } from 'commander';
import { ensureReaperSchedule, reaperIntervalProblem, reaperScheduleId } from '../../client/reaper';
import type { ReapReport } from '../../../activities/reaper';
import { TASK_QUEUE } from '../../../workflows/messages';
import { action, positiveInt } from '../action';
import { withTemporal } from '../connect';
import { CliError, EXIT } from '../errors';

interface ReapOptions {
  project?: string;
  zones?: string;
  minAge: number;
  dryRun?: boolean;
  schedule?: string;
  taskQueue: string;
}

export function reapCommand(program: Command): void {
  program
    .command('reap')
    .description('delete GCE hosts whose run is closed or unknown to Temporal (runs on a worker); --schedule keeps doing it')
    .option('--project <id>', 'GCP project; default $GOOGLE_CLOUD_PROJECT')
    .option('--zones <list>', 'comma-separated zones; default all')
    .option('--min-age <seconds>', 'leave hosts younger than this alone (their run may be starting)', positiveInt, 900)
    .option('--dry-run', 'report what would be deleted, delete nothing')
    .option('--schedule <interval>', 'instead of now, create or update the reaper schedule to run every interval (e.g. 30m); workers create it at start')
    .option('--task-queue <queue>', 'task queue of the workers', TASK_QUEUE)
    .action(
      action<[], ReapOptions>(async ({ out, opts }) => {
        const project = opts.project ?? process.env.GOOGLE_CLOUD_PROJECT;
        if (!project) throw new CliError('no GCP project: pass --project or set GOOGLE_CLOUD_PROJECT', EXIT.badInput);
        const input = {
          project,
          ...(opts.zones ? { zones: opts.zones.split(',').map((z) => z.trim()) } : {}),
          minAgeS: opts.minAge,
          ...(opts.dryRun ? { dryRun: true } : {}),
        };
        await withTemporal(async (t) => {
          if (opts.schedule) {
            const problem = reaperIntervalProblem(opts.schedule);
            if (problem) throw new CliError(`--schedule ${problem}`, EXIT.badInput);
            const every = opts.schedule as `${number}m`;
            const scheduleId = reaperScheduleId(project);
            await ensureReaperSchedule(t.client, { ...input, every, taskQueue: opts.taskQueue });
            out.result({ scheduleId, every: opts.schedule, ...input }, [
              `reaper schedule ${scheduleId}: every ${opts.schedule} in ${project} (finetune schedule describe ${scheduleId})`,
            ]);
            return;
          }
          const report = (await t.client.workflow.execute('reapOrphanHosts', {
            taskQueue: opts.taskQueue,
            workflowId: `reap-${project}-${Date.now()}`,
            args: [input],
          })) as ReapReport;
          out.result(report, () => [
            `checked ${report.checked} hosts in ${project}: ${opts.dryRun ? 'would delete' : 'deleted'} ${report.deleted.length}, kept ${report.kept.length}`,
            ...report.deleted.map((d) => `  ${opts.dryRun ? 'would delete' : 'deleted'} ${d.zone}/${d.name} (run ${d.runId ?? '?'}: ${d.reason})`),
          ]);
        });
      }),
    );
}
