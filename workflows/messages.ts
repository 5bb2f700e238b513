/** Queries and signals of fineTunePipeline, shared by the workflow and its clients. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
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

/** A person's decision on the gate (eval.require_approval), from our CLI or the Temporal UI. */
export interface GateDecision {
  by: string;
  note?: string;
}
export const approveSignal = defineSignal<[GateDecision]>('approve');
export const rejectSignal = defineSignal<[GateDecision]>('reject');
