/**
 * The run's progress as the workflow knows it: answered by the `progress`
 * query and rendered as the workflow's current details in the Temporal UI.
 */
import type { JobProgress } from '../activities/types';
import type { GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import type { DpoSummary } from './dpo';

export const PIPELINE_STAGES = [
  'provision',
  'preflight',
  'sft',
  'merge',
  'dpo',
  'generate',
  'score',
  'gate',
  'promote',
] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

export interface StageProgress {
  state: 'pending' | 'running' | 'succeeded' | 'failed';
  attempts: number;
  step: number;
  totalSteps: number;
  loss: number | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RunProgress {
  runId: string;
  name: string;
  baseModel: string;
  /** not_promoted: the run finished, but the gate let no model ship (gate.reason says why). */
  state: 'running' | 'succeeded' | 'not_promoted' | 'failed' | 'cancelled';
  stage: PipelineStage;
  step: number;
  totalSteps: number;
  loss: number | null;
  lastCheckpointStep: number | null;
  host: string | null;
  startedAt: string;
  elapsedSeconds: number;
  hostLosses: number;
  stepsRedone: number;
  stages: Record<PipelineStage, StageProgress>;
  metrics: RunMetrics | null;
  gate: GateOutcome | null;
  /** DPO's attempts after collapses, and whether the SFT model ships instead. */
  dpo: DpoSummary | null;
  promoted: { model: string; uri: string } | null;
  error: string | null;
}

export function newProgress(runId: string, name: string, baseModel: string, now: Date): RunProgress {
  const stages = {} as Record<PipelineStage, StageProgress>;
  for (const s of PIPELINE_STAGES) {
    stages[s] = { state: 'pending', attempts: 0, step: 0, totalSteps: 0, loss: null, startedAt: null, finishedAt: null };
  }
  return {
    runId,
    name,
    baseModel,
    state: 'running',
    stage: 'provision',
    step: 0,
    totalSteps: 0,
    loss: null,
    lastCheckpointStep: null,
    host: null,
    startedAt: now.toISOString(),
    elapsedSeconds: 0,
    hostLosses: 0,
    stepsRedone: 0,
    stages,
    metrics: null,
    gate: null,
    dpo: null,
    promoted: null,
    error: null,
  };
}

export function enterStage(p: RunProgress, stage: PipelineStage, now: Date): void {
  p.stage = stage;
  p.step = 0;
  p.totalSteps = 0;
  p.loss = null;
  p.lastCheckpointStep = null;
  const s = p.stages[stage];
  s.state = 'running';
  s.attempts += 1;
  s.startedAt ??= now.toISOString();
}

export function finishStage(p: RunProgress, stage: PipelineStage, state: 'succeeded' | 'failed', now: Date): void {
  const s = p.stages[stage];
  s.state = state;
  s.finishedAt = now.toISOString();
  if (state === 'succeeded' && s.totalSteps > 0) s.step = s.totalSteps;
}

export function applyJobProgress(p: RunProgress, j: JobProgress): void {
  const s = p.stages[j.stage];
  if (!s || p.stage !== j.stage) return;
  s.step = j.step;
  s.totalSteps = j.totalSteps;
  s.loss = j.loss;
  p.step = j.step;
  p.totalSteps = j.totalSteps;
  p.loss = j.loss;
  p.lastCheckpointStep = j.lastCheckpointStep;
  p.host = j.hostId;
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);

/** Markdown for the Temporal UI's "current details". */
export function renderDetails(p: RunProgress): string {
  const lines = [
    `**${p.name}** on \`${p.baseModel}\`: ${p.state}, stage **${p.stage}**`,
    '',
    '| stage | state | step | loss |',
    '|---|---|---|---|',
  ];
  for (const name of PIPELINE_STAGES) {
    const s = p.stages[name];
    const step = s.totalSteps > 0 ? `${s.step}/${s.totalSteps}` : '';
    lines.push(`| ${name} | ${s.state} | ${step} | ${s.loss === null ? '' : s.loss.toFixed(4)} |`);
  }
  lines.push(
    '',
    `host: ${p.host ?? '-'} · last checkpoint: ${p.lastCheckpointStep ?? '-'} · host losses: ${p.hostLosses} · steps redone: ${p.stepsRedone}`,
  );
  if (p.dpo && p.dpo.note) lines.push('', `dpo: ${p.dpo.shipped === 'sft' ? '**shipping the SFT model** · ' : ''}${p.dpo.note}`);
  if (p.metrics) {
    const m = p.metrics;
    lines.push('', `${m.primaryMetric}: base ${pct(m.models.base?.[m.primaryMetric])} · sft ${pct(m.models.sft?.[m.primaryMetric])} · dpo ${pct(m.models.dpo?.[m.primaryMetric])}`);
    lines.push(`report: ${m.report?.html ?? `runs/${p.runId}/report/report.html`}`);
  }
  if (p.gate) {
    const g = p.gate;
    lines.push('', `gate: **${g.state.replace('_', ' ')}**${g.by ? ` by ${g.by}` : ''}${g.note ? ` (${g.note})` : ''} · ${g.reason}`);
    if (g.state === 'awaiting_approval') lines.push(`waiting until ${g.deadline}: signal \`approve\` or \`reject\` with {"by": "<you>", "note": "..."}`);
  }
  if (p.promoted) lines.push('', `promoted **${p.promoted.model}** to ${p.promoted.uri}`);
  if (p.error) lines.push('', `error: ${p.error}`);
  return lines.join('\n');
}
