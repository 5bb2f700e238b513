/**
 * `finetune schedule create|list|describe|pause|unpause|trigger|delete`:
 * retraining on Temporal Schedules. A run whose previous one from the same
 * schedule is still going is skipped by default (overlap policy SKIP); a
 * manual trigger obeys the schedule's policy too.
 */
import type { Command } from 'commander';
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { runMetadata } from '../../client/runs';
import { RunIdInvalid, scheduleIdProblem } from '../../jobs/runId';
import { TASK_QUEUE, WORKFLOW_TYPE } from '../../../workflows/messages';
import { action } from '../action';
import { withTemporal } from '../connect';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';
import { readConfig } from './run';

const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};
const EVERY = /^\d+\s*(s|m|h|d)$/;

interface CreateOptions {
  every?: string;
  cron?: string;
  overlap: string;
  paused?: boolean;
  note?: string;
  taskQueue: string;
}

function describeSchedule(d: ScheduleDescription) {
  return {
    scheduleId: d.scheduleId,
    paused: d.state.paused,
    note: d.state.note ?? null,
    overlap: d.policies.overlap,
    runsStarted: d.info.numActionsTaken,
    runsSkippedOverlap: d.info.numActionsSkippedOverlap,
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    recent: d.info.recentActions.map((a) => ({ runId: a.action.workflow.workflowId, takenAt: a.takenAt.toISOString() })),
    next: d.info.nextActionTimes.map((t) => t.toISOString()),
  };
}

function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  return withTemporal((t) => fn(t.client));
}

/** Waits until the schedule has acted on a trigger: a run started or one skipped. */
async function triggerOutcome(client: Client, id: string, before: ScheduleDescription, out: Output) {
  const handle = client.schedule.getHandle(id);
  for (let i = 0; i < 50; i++) {
    const now = await handle.describe();
    if (now.info.numActionsTaken > before.info.numActionsTaken) {
      const latest = now.info.recentActions[now.info.recentActions.length - 1];
      return { scheduleId: id, outcome: 'started', runId: latest?.action.workflow.workflowId ?? null };
    }
    if (now.info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap) {
      return { scheduleId: id, outcome: 'skipped', runId: null, running: now.info.runningActions.map((a) => a.workflow.workflowId) };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  out.warn(`the schedule has not acted on the trigger within 10 s; see \`finetune schedule describe ${id}\``);
  return { scheduleId: id, outcome: 'pending', runId: null };
}

export function scheduleCommand(program: Command): void {
  const schedule = program.command('schedule').description('retrain on a schedule (Temporal Schedules)');

  schedule
    .command('create')
    .description('create a schedule that starts runs of a config; without --every/--cron it runs only when triggered')
    .argument('<id>', 'schedule id')
    .argument('<config>', 'pipeline config, YAML or JSON (local paths are pinned now, relative to the current folder)')
    .option('--every <interval>', 'start a run every interval: 30m, 6h, 1d')
    .option('--cron <expression>', 'start runs on a cron expression, e.g. "0 3 * * 1"')
    .option('--overlap <policy>', `when the previous run is still going: ${Object.keys(OVERLAP).join(', ')}`, 'skip')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note on the schedule')
    .option('--task-queue <queue>', 'task queue of the workers', TASK_QUEUE)
    .action(
      action<[string, string], CreateOptions>(async ({ out, opts }, id, file) => {
        const badId = scheduleIdProblem(id);
        if (badId) throw new CliError(new RunIdInvalid('schedule id', id, badId).message, EXIT.badInput);
        const overlap = OVERLAP[opts.overlap];
        if (!overlap) throw new CliError(`--overlap ${opts.overlap} is not a policy: use one of ${Object.keys(OVERLAP).join(', ')}`, EXIT.badInput);
        if (opts.every && !EVERY.test(opts.every)) throw new CliError(`--every ${opts.every}: use a number and a unit, e.g. 30m, 6h, 1d`, EXIT.badInput);
        const config = readConfig(file);
        await withClient(async (client) => {
          await client.schedule.create({
            scheduleId: id,
            spec: {
              ...(opts.every ? { intervals: [{ every: opts.every.replace(/\s+/g, '') as `${number}${'s' | 'm' | 'h' | 'd'}` }] } : {}),
              ...(opts.cron ? { cronExpressions: [opts.cron] } : {}),
            },
            action: { type: 'startWorkflow', workflowType: WORKFLOW_TYPE, taskQueue: opts.taskQueue, args: [config], ...runMetadata(config) },
            policies: { overlap },
            state: { paused: Boolean(opts.paused), ...(opts.note ? { note: opts.note } : {}) },
          });
          const d = await client.schedule.getHandle(id).describe();
          out.result(describeSchedule(d), [
            `schedule ${id} created: runs ${config.name}${opts.every ? ` every ${opts.every}` : ''}${opts.cron ? ` on cron "${opts.cron}"` : ''}${!opts.every && !opts.cron ? ' when triggered' : ''}, overlap ${opts.overlap}${opts.paused ? ', paused' : ''}`,
          ]);
        });
      }),
    );

  schedule
    .command('list')
    .description('schedules in this namespace')
    .action(
      action(({ out }) =>
        withClient(async (client) => {
          const rows: { scheduleId: string; paused: boolean; note: string | null; recent: string[]; next: string[] }[] = [];
          for await (const s of client.schedule.list()) {
            rows.push({
              scheduleId: s.scheduleId,
              paused: s.state.paused,
              note: s.state.note ?? null,
              recent: s.info.recentActions.map((a) => a.action.workflow.workflowId),
              next: s.info.nextActionTimes.map((t) => t.toISOString()),
            });
          }
          out.result(rows, () =>
            rows.length === 0
              ? ['no schedules']
              : rows.map((r) => `${r.scheduleId.padEnd(30)} ${r.paused ? 'paused ' : 'active '} next ${r.next[0] ?? '-'}  last run ${r.recent[r.recent.length - 1] ?? '-'}`),
          );
        }),
      ),
    );

  schedule
    .command('describe')
    .description('a schedule: policy, runs started and skipped, runs still going')
    .argument('<id>', 'schedule id')
    .action(
      action(({ out }, id: string) =>
        withClient(async (client) => {
          const d = describeSchedule(await client.schedule.getHandle(id).describe());
          out.result(d, [
            `schedule ${d.scheduleId}: ${d.paused ? 'paused' : 'active'}, overlap ${d.overlap}`,
            `runs started ${d.runsStarted}, skipped for overlap ${d.runsSkippedOverlap}, running: ${d.running.join(', ') || '-'}`,
            `next: ${d.next[0] ?? '-'}`,
          ]);
        }),
      ),
    );

  for (const verb of ['pause', 'unpause'] as const) {
    schedule
      .command(verb)
      .description(`${verb} a schedule`)
      .argument('<id>', 'schedule id')
      .option('--note <text>', 'why')
      .action(
        action<[string], { note?: string }>(({ out, opts }, id) =>
          withClient(async (client) => {
            await client.schedule.getHandle(id)[verb](opts.note);
            out.result({ scheduleId: id, paused: verb === 'pause' }, [`schedule ${id} ${verb}d`]);
          }),
        ),
      );
  }

  schedule
    .command('trigger')
    .description("start a run now, under the schedule's overlap policy (skipped while its previous run goes on, by default)")
    .argument('<id>', 'schedule id')
    .action(
      action(({ out }, id: string) =>
        withClient(async (client) => {
          const handle = client.schedule.getHandle(id);
          const before = await handle.describe();
          await handle.trigger(before.policies.overlap);
          const result = await triggerOutcome(client, id, before, out);
          out.result(result, [
            result.outcome === 'started'
              ? `schedule ${id} started run ${result.runId}`
              : result.outcome === 'skipped'
                ? `schedule ${id} skipped the trigger: ${(result as { running?: string[] }).running?.join(', ') || 'a run'} is still going (overlap ${before.policies.overlap})`
                : `schedule ${id} triggered`,
          ]);
        }),
      ),
    );

  schedule
    .command('delete')
    .description('delete a schedule (runs it started are not touched)')
    .argument('<id>', 'schedule id')
    .action(
      action(({ out }, id: string) =>
        withClient(async (client) => {
          await client.schedule.getHandle(id).delete();
          out.result({ scheduleId: id, deleted: true }, [`schedule ${id} deleted`]);
        }),
      ),
    );
}
