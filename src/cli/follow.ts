/**
 * Following a run to its end with live progress bars, then the metrics table,
 * the promoted model and the report path: `run --wait`, `watch` and the demo.
 */
import { ApplicationFailure, CancelledFailure, type WorkflowHandle } from '@temporalio/client';
import { failureKind } from '../jobs/failures';
import type { Worker } from '@temporalio/worker';
import { followRun } from '../client/runs';
import { tensorboardCommand } from '../report/data';
import { formatMetricsTable } from '../report/table';
import type { PipelineResult } from '../../workflows/pipeline';
import { EXIT } from './errors';
import type { Output } from './output';
import { costLine } from './costLine';
import { ProgressView } from './progressBars';

export interface FollowOutcome {
  exit: number;
  summary: Record<string, unknown>;
}

export function reportPath(storeUri: string, runId: string): string {
  return `${storeUri.replace(/\/$/, '')}/runs/${runId}/report/metrics.json`;
}

/**
 * Why a run ended badly, as the CLI shows it: the innermost failure's message, its type and the failure
 * table's advice for that type (src/jobs/failures.ts), null where the message already carries it
 * (a stage's failures do) or the table does not know the type.
 */
export function runFailure(err: unknown): { message: string; type: string | null; advice: string | null } {
  let e = err as { cause?: unknown; message?: string; type?: unknown };
  while (e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  const message = e.message ?? String(err);
  const type = e instanceof ApplicationFailure && typeof e.type === 'string' ? e.type : null;
  const advice = type ? (failureKind(type)?.advice ?? null) : null;
  return { message, type, advice: advice && !message.includes(advice) ? advice : null };
}

export async function followToEnd(handle: WorkflowHandle, opts: { out: Output; link: string | null; worker?: Worker; startedMs?: number }): Promise<FollowOutcome> {
  const { out, link } = opts;
  const view = new ProgressView(process.stderr);
  const following = followRun(handle, (p) => view.update(p));
  const startedMs = opts.startedMs ?? Date.now();
  try {
    const result: PipelineResult = opts.worker ? await opts.worker.runUntil(following) : await following;
    const seconds = Math.round((Date.now() - startedMs) / 1000);
    const report = result.metrics.report?.html ?? reportPath(result.storeUri, result.runId);
    out.say('');
    out.say(formatMetricsTable(result.metrics, result.metrics.primaryMetric));
    out.say('');
    out.say(
      result.outcome === 'promoted'
        ? `promoted: ${result.promoted.model} -> ${result.promoted.uri}${'commit' in result.promoted && result.promoted.commit ? ` (commit ${result.promoted.commit})` : ''}`
        : `not promoted: ${result.gate.reason}`,
    );
    out.say(`report: ${report}`);
    out.say(`training curves: ${tensorboardCommand(result.storeUri, result.runId)}`);
    out.say(costLine(result.cost));
    if (link) out.say(`Temporal UI: ${link}`);
    out.say(`finished in ${seconds} s (host losses ${result.hostLosses}, steps redone ${result.stepsRedone})`);
    return {
      exit: EXIT.ok,
      summary: {
        runId: result.runId,
        status: 'succeeded',
        storeUri: result.storeUri,
        primaryMetric: result.metrics.primaryMetric,
        metrics: result.metrics.models,
        promoted: result.promoted,
        report,
        seconds,
        uiUrl: link,
      },
    };
  } catch (err) {
    const cancelled = (err as { cause?: unknown }).cause instanceof CancelledFailure;
    const status = cancelled ? 'cancelled' : 'failed';
    const failure = runFailure(err);
    out.warn(`run ${handle.workflowId} ${cancelled ? 'was cancelled' : `failed: ${failure.message}`}`);
    if (!cancelled && failure.advice) out.warn(`what to do: ${failure.advice}`);
    if (link) out.warn(`Temporal UI: ${link}`);
    return {
      exit: EXIT.runFailed,
      summary: { runId: handle.workflowId, status, error: failure.message, failureType: cancelled ? null : failure.type, advice: cancelled ? null : failure.advice, uiUrl: link },
    };
  }
}
