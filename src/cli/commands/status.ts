/** `finetune status [run]` and `finetune list`: where runs stand. */
import type { Command } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import type { PipelineResult } from '../../../workflows/pipeline';
import type { RunProgress } from '../../../workflows/progress';
import { action, positiveInt } from '../action';
import { withTemporal } from '../connect';
import { runFailure } from '../follow';
import { costLine } from '../costLine';
import { renderBars } from '../progressBars';
import { findRun, latestRunId, listRuns, queryProgress, runInfo, type RunInfo } from '../runInfo';

async function outcome(handle: WorkflowHandle, status: string): Promise<{ result?: PipelineResult; error?: string; failureType?: string | null; advice?: string | null }> {
  if (status === 'RUNNING') return {};
  try {
    return { result: (await handle.result()) as PipelineResult };
  } catch (err) {
    const failure = runFailure(err);
    return { error: failure.message, failureType: failure.type, advice: failure.advice };
  }
}

function headline(info: RunInfo, progress: RunProgress | null): string {
  const stage = progress?.stage ?? info.stage;
  const p = progress;
  const step = p && p.totalSteps > 0 ? ` step ${p.step}/${p.totalSteps}${p.loss !== null ? `, loss ${p.loss.toFixed(4)}` : ''}` : '';
  return `run ${info.runId}: ${info.status}${stage ? `, stage ${stage}${step}` : ''}`;
}

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description("a run's state, stage, progress and outcome (default: the newest run)")
    .argument('[run]', 'run id (workflow id)')
    .action(
      action(async ({ out }, runId?: string) =>
        withTemporal(async (t) => {
          const id = runId ?? (await latestRunId(t.client));
          const { handle, description } = await findRun(t.client, id);
          const info = runInfo(description);
          const progress = await queryProgress(handle, info.status === 'RUNNING' ? 5000 : 2000);
          const end = await outcome(handle, info.status);
          const link = t.link(id);
          out.result(
            { ...info, progress, result: end.result ?? null, error: end.error ?? null, failureType: end.failureType ?? null, advice: end.advice ?? null, uiUrl: link },
            () => {
              const lines = [headline(info, progress)];
              lines.push(`started ${info.startTime}${info.closeTime ? `, closed ${info.closeTime}` : ''}; base model ${info.baseModel ?? '-'}; gate ${info.gate ?? '-'}`);
              if (progress) lines.push(...renderBars(progress));
              else if (info.status === 'RUNNING') lines.push(`(no worker answered the progress query: is one polling task queue ${info.taskQueue}?)`);
              const cost = end.result?.cost ?? progress?.cost;
              if (cost) lines.push(costLine(cost));
              if (end.result) {
                const r = end.result;
                lines.push(
                  r.outcome === 'promoted'
                    ? `promoted ${r.promoted.model} -> ${r.promoted.uri}${'commit' in r.promoted && r.promoted.commit ? ` (commit ${r.promoted.commit})` : ''}`
                    : `not promoted: ${r.gate.reason}`,
                );
              }
              if (end.error) lines.push(`error: ${end.error}`);
              if (end.advice) lines.push(`what to do: ${end.advice}`);
              if (link) lines.push(`Temporal UI: ${link}`);
              return lines;
            },
          );
        }),
      ),
    );

  program
    .command('list')
    .description('fine-tune runs, newest first')
    .option('--limit <n>', 'at most this many runs', positiveInt, 20)
    .option('--query <visibility query>', 'extra filter, e.g. "ExecutionStatus = \'Running\'" or "FinetuneStage = \'sft\'"')
    .action(
      action<[], { limit: number; query?: string }>(async ({ out, opts }) =>
        withTemporal(async (t) => {
          const runs = await listRuns(t.client, opts.limit, opts.query);
          out.result(runs, () =>
            runs.length === 0 ? ['no fine-tune runs yet'] : runs.map((r) => `${r.runId.padEnd(44)} ${r.status.padEnd(10)} ${(r.stage ?? '-').padEnd(10)} ${r.startTime}`),
          );
        }),
      ),
    );
}
