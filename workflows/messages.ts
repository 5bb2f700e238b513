/** Queries and signals of fineTunePipeline, shared by the workflow and its clients. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { JobProgress } from '../activities/types';
import type { RunProgress } from './progress';

export const progressQuery = defineQuery<RunProgress>('progress');
export const jobProgressSignal = defineSignal<[JobProgress]>('jobProgress');

/** Registered on the dev server by `finetune dev` and the demo (--search-attribute). */
export const STAGE_ATTRIBUTE = defineSearchAttributeKey('FinetuneStage', SearchAttributeType.KEYWORD);

export const TASK_QUEUE = 'finetune';
export const WORKFLOW_TYPE = 'fineTunePipeline';
