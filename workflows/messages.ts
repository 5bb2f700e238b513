/** Queries, signals and updates of fineTunePipeline, shared by the workflow and its clients. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { JobProgress } from '../activities/types';
import type { RunProgress } from './progress';

export const progressQuery = defineQuery<RunProgress>('progress');
export const jobProgressSignal = defineSignal<[JobProgress]>('jobProgress');

/** Registered on the dev server by `finetune dev` and the demo (--search-attribute). */
export const STAGE_ATTRIBUTE = defineSearchAttributeKey('FinetuneStage', SearchAttributeType.KEYWORD);
/** The run's base model, set at start: `FinetuneBaseModel = "..."` in the UI's search. */
export const BASE_MODEL_ATTRIBUTE = defineSearchAttributeKey('FinetuneBaseModel', SearchAttributeType.KEYWORD);
/** The eval gate's state: `pending` at start, then whatever the gate decides. */
export const GATE_ATTRIBUTE = defineSearchAttributeKey('FinetuneGate', SearchAttributeType.KEYWORD);
/** What the run's hosts have cost so far, in USD, updated at each stage's end. */
export const COST_ATTRIBUTE = defineSearchAttributeKey('FinetuneCostUsd', SearchAttributeType.DOUBLE);

export const TASK_QUEUE = 'finetune';
export const WORKFLOW_TYPE = 'fineTunePipeline';

/**
 * What a person sends to approve or reject the gate's candidate: a note and
 * nothing else. Who decides is not in the payload: it is the caller's client
 * identity as the server records it with the update (workflows/caller.ts).
 */
export interface GateDecisionRequest {
  note?: string;
}

/** The decision the gate recorded, which the approve and reject updates return. */
export interface GateDecision {
  decision: 'approve' | 'reject';
  candidate: 'sft' | 'dpo';
  /** The caller's client identity (e.g. alice@laptop from our CLI, temporal-cli:alice@laptop from the temporal CLI). */
  by: string;
  note: string | null;
  decidedAt: string;
}

/**
 * A person's decision on the gate (eval.require_approval): `finetune approve|reject <run>`
 * or `temporal workflow update execute --name approve|reject`. Refused with the reason
 * before the gate waits, after it decided, and for a caller not in eval.approvers.
 * A caller that sends no argument (temporal CLI without --input) is taken as {}.
 */
export const approveUpdate = defineUpdate<GateDecision, [GateDecisionRequest]>('approve');
export const rejectUpdate = defineUpdate<GateDecision, [GateDecisionRequest]>('reject');

/**
 * The decision as a signal, with the approver's name typed by the caller: how runs
 * decided before the gate took updates (patch `gate-updates`). Only runs whose gate
 * opened under that code still honour it (their histories replay); a newer gate
 * logs it and ignores it.
 */
export interface LegacyGateDecision {
  by: string;
  note?: string;
}
export const approveSignal = defineSignal<[LegacyGateDecision]>('approve');
export const rejectSignal = defineSignal<[LegacyGateDecision]>('reject');
