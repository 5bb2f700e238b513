/** Starting and following pipeline runs from a client. */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { PipelineConfig } from '../config/schema';
import type { SearchAttributePair } from '@temporalio/common';
import { BASE_MODEL_ATTRIBUTE, COST_ATTRIBUTE, GATE_ATTRIBUTE, progressQuery, STAGE_ATTRIBUTE, TASK_QUEUE, WORKFLOW_TYPE } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import type { PipelineResult } from '../../workflows/pipeline';
import { checkRunId } from '../jobs/runId';

export function newRunId(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `${name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function startRun(client: Client, config: PipelineConfig, opts: { runId?: string; taskQueue?: string } = {}): Promise<WorkflowHandle> {
  // Checked before the start: the run id becomes a store folder, a VM name and an agent argument.
  const runId = checkRunId(opts.runId ?? newRunId(config.name), '--run-id');
  return client.workflow.start(WORKFLOW_TYPE, {
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workflowId: runId,
    args: [config],
    ...runMetadata(config),
  });
}

/**
 * The base model as its search attribute shows it. Search attributes are the
 * one part of history the codec cannot seal (the server indexes them), so no
 * path goes there: an hf: reference (public) stays whole, a local folder or a
 * store URI keeps only its last name.
 */
export function baseModelAttribute(base: string): string {
  if (base.startsWith('hf:')) return base;
  return base.replace(/\/+$/, '').split('/').pop() || base;
}

/**
 * What the Temporal UI shows about a run before it has done anything, and the
 * search attributes it starts with (a run started without FinetuneStage does
 * not track its stage; see workflows/pipeline.ts). Runs started by a schedule
 * carry the same.
 */
export function runMetadata(config: PipelineConfig) {
  return {
    staticSummary: `fine-tune ${config.name} on ${config.model.base}`,
    staticDetails: [
      `**config** ${config.name}`,
      `**base model** \`${config.model.base}\``,
      `**data** sft \`${config.data.sft}\`, preferences \`${config.data.preferences}\`, eval \`${config.data.eval}\``,
      `**store** \`${config.store}\``,
    ].join('\n\n'),
    typedSearchAttributes: [
      { key: STAGE_ATTRIBUTE, value: 'queued' },
      { key: BASE_MODEL_ATTRIBUTE, value: baseModelAttribute(config.model.base) },
      { key: GATE_ATTRIBUTE, value: 'pending' },
      { key: COST_ATTRIBUTE, value: 0 },
    ] as SearchAttributePair[],
  };
}

/** Polls the progress query until the run closes; returns its result or throws its failure. */
export async function followRun(handle: WorkflowHandle, onProgress: (p: RunProgress) => void, intervalMs = 1000): Promise<PipelineResult> {
  const result = handle.result() as Promise<PipelineResult>;
  let closed = false;
  result.then(
    () => (closed = true),
    () => (closed = true),
  );
  while (!closed) {
    try {
      onProgress(await handle.query(progressQuery));
    } catch {
      // The first workflow task may not have run yet; the next poll will see it.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, intervalMs))]);
  }
  try {
    onProgress(await handle.query(progressQuery));
  } catch {
    // A closed run whose worker has gone cannot answer queries; the result says enough.
  }
  return result;
}

export function uiLink(uiBase: string, namespace: string, runId: string): string {
  return `${uiBase.replace(/\/$/, '')}/namespaces/${namespace}/workflows/${encodeURIComponent(runId)}`;
}
