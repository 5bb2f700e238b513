/** What the CLI reads about runs from Temporal: description, progress, result. */
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type DataConverter } from '@temporalio/common';
import { decodePayloads } from '../client/codec/dataConverter';
import { projectRoot } from '../paths';
import { resolveStoreUri } from '../store/uri';
import type { PipelineResult } from '../../workflows/pipeline';
import { BASE_MODEL_ATTRIBUTE, GATE_ATTRIBUTE, progressQuery, STAGE_ATTRIBUTE, WORKFLOW_TYPE } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import { CliError, EXIT } from './errors';

export interface RunInfo {
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT. */
  status: string;
  stage: string | null;
  baseModel: string | null;
  gate: string | null;
  taskQueue: string;
  startTime: string;
  closeTime: string | null;
}

export function runInfo(d: Pick<WorkflowExecutionDescription, 'workflowId' | 'status' | 'typedSearchAttributes' | 'taskQueue' | 'startTime' | 'closeTime'>): RunInfo {
  const attr = (key: typeof STAGE_ATTRIBUTE): string | null => (d.typedSearchAttributes.get(key) as string | undefined) ?? null;
  return {
    runId: d.workflowId,
    status: d.status.name,
    stage: attr(STAGE_ATTRIBUTE),
    baseModel: attr(BASE_MODEL_ATTRIBUTE),
    gate: attr(GATE_ATTRIBUTE),
    taskQueue: d.taskQueue,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString() ?? null,
  };
}

/** The run's handle and description; exit code 3 when there is no such run. */
export async function findRun(client: Client, runId: string): Promise<{ handle: WorkflowHandle; description: WorkflowExecutionDescription }> {
  const handle = client.workflow.getHandle(runId);
  const description = await handle.describe();
  if (description.type !== WORKFLOW_TYPE) {
    throw new CliError(`${runId} is a ${description.type} workflow, not a fine-tune run`, EXIT.notFound);
  }
  return { handle, description };
}

/**
 * The progress query, or null when no worker answers in time (a queued run
 * without a worker, or a closed run whose worker has gone).
 */
export async function queryProgress(handle: WorkflowHandle, timeoutMs = 5000): Promise<RunProgress | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  try {
    return await Promise.race([handle.query(progressQuery).catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const RUNS_QUERY = `WorkflowType = '${WORKFLOW_TYPE}'`;

export async function listRuns(client: Client, limit: number, query?: string): Promise<RunInfo[]> {
  const runs: RunInfo[] = [];
  const q = query ? `${RUNS_QUERY} AND (${query})` : RUNS_QUERY;
  for await (const w of client.workflow.list({ query: q, pageSize: Math.min(limit, 100) })) {
    runs.push(runInfo(w));
    if (runs.length >= limit) break;
  }
  return runs;
}

export async function latestRunId(client: Client): Promise<string> {
  const [latest] = await listRuns(client, 1);
  if (!latest) throw new CliError('no fine-tune runs in this namespace yet: start one with `finetune run <config>`', EXIT.notFound);
  return latest.runId;
}

/**
 * The run's store: from its result when it completed, else from the config it
 * was started with (relative folders resolve on the worker, in the project root),
 * its input opened with the client's data converter (history is encrypted).
 */
export async function storeOf(handle: WorkflowHandle, status: string, dataConverter: DataConverter): Promise<string> {
  if (status === 'COMPLETED') return ((await handle.result()) as PipelineResult).storeUri;
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const config = payload ? (defaultPayloadConverter.fromPayload((await decodePayloads(dataConverter, [payload]))[0]) as { store?: string }) : undefined;
  if (!config?.store) throw new CliError(`cannot tell the store of ${handle.workflowId} from its input`, EXIT.notFound);
  return resolveStoreUri(config.store, projectRoot);
}
