/**
 * The run's progress as the workflow knows it: answered by the `progress`
 * query and rendered as the workflow's current details in the Temporal UI.
 */
import type { HostLostDetails, JobProgress } from '../activities/types';
import type { RecoveryLoss } from '../src/report/data';
import type { GateOutcome } from '../src/eval/gate';
import type { HubModel } from '../src/hub/fetch';
import type { RunMetrics } from '../src/eval/metrics';
import type { CostSummary } from './cost';
import type { DpoSummary } from './dpo';
import { hasBuckets, splitLine } from '../src/cost/ledger';

export const PIPELINE_STAGES = ['provision', 'preflight', 'sft', 'merge', 'dpo', 'generate', 'score', 'gate', 'promote'] as const;
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
  /** An hf: base model: the commit its revision resolved to (every host loads these bytes); null for other bases or before prepare. */
  model: HubModel | null;
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
  /** Wall time the host losses cost: waiting for a new host plus redoing steps (sum of losses). */
  secondsLost: number;
  losses: HostLoss[];
  stages: Record<PipelineStage, StageProgress>;
  metrics: RunMetrics | null;
  gate: GateOutcome | null;
  /** DPO's attempts after collapses, and whether the SFT model ships instead. */
  dpo: DpoSummary | null;
  /** commit: the Hub commit holding the model when output is hf:<org>/<name>. */
  promoted: { model: string; uri: string; commit?: string; repoUrl?: string } | null;
  cost: CostSummary | null;
  error: string | null;
  /** Webhook deliveries (config notify.webhooks): told, and given up after their retries. Absent without webhooks. */
  notifications?: { delivered: number; failed: number };
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
    model: null,
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
    secondsLost: 0,
    losses: [],
    stages,
    metrics: null,
    gate: null,
    dpo: null,
    promoted: null,
    cost: null,
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

/**
 * One lost host and what it cost (the report's RecoveryLoss, plus what the
 * workflow needs to finish it); the resume fields fill in when the next
 * host's job makes its first new step.
 */
export interface HostLoss extends RecoveryLoss {
  /** When the lost job last made progress. */
  lostAt: string;
  secondsPerStep: number | null;
  resumedAt: string | null;
}

export type LostJob = HostLostDetails;

/**
 * Records a lost host. The next job resumes from the newest committed
 * checkpoint, which is the lost job's last reported one, or the step it had
 * itself resumed from when it committed none.
 */
export function recordLoss(p: RunProgress, stage: PipelineStage, lost: LostJob, now: Date): HostLoss {
  const checkpointStep = Math.max(lost.lastCheckpointStep ?? 0, lost.resumedFromStep ?? 0);
  const loss: HostLoss = {
    stage,
    hostId: lost.hostId,
    jobId: lost.jobId ?? '?',
    reason: lost.reason,
    preempted: lost.preempted,
    atStep: lost.lastStep,
    checkpointStep,
    stepsRedone: Math.max(0, lost.lastStep - checkpointStep),
    lostAt: lost.lastProgressAt ?? now.toISOString(),
    secondsPerStep: lost.secondsPerStep ?? null,
    resumedAt: null,
    secondsToResume: null,
    secondsLost: null,
  };
  closeLosses(p, stage, now);
  p.losses.push(loss);
  p.hostLosses += 1;
  p.stepsRedone += loss.stepsRedone;
  return loss;
}

/** Closes the stage's open losses at `now` (the first new step after a resume, or the stage's end). */
export function closeLosses(p: RunProgress, stage: string, now: Date, resumedFromStep?: number): void {
  for (const loss of p.losses) {
    if (loss.stage !== stage || loss.resumedAt !== null) continue;
    if (resumedFromStep !== undefined && resumedFromStep !== loss.checkpointStep) {
      // The resume started elsewhere than expected (e.g. that checkpoint failed its check): recount.
      const redone = Math.max(0, loss.atStep - resumedFromStep);
      p.stepsRedone += redone - loss.stepsRedone;
      loss.stepsRedone = redone;
      loss.checkpointStep = resumedFromStep;
    }
    loss.resumedAt = now.toISOString();
    loss.secondsToResume = Math.max(0, (now.getTime() - Date.parse(loss.lostAt)) / 1000);
    loss.secondsLost = Math.round(loss.secondsToResume + loss.stepsRedone * (loss.secondsPerStep ?? 0));
    loss.secondsToResume = Math.round(loss.secondsToResume);
    p.secondsLost += loss.secondsLost;
  }
}

export function applyJobProgress(p: RunProgress, j: JobProgress, now: Date = new Date()): void {
  const s = p.stages[j.stage];
  if (!s || p.stage !== j.stage) return;
  const open = p.losses.find((l) => l.stage === j.stage && l.resumedAt === null);
  if (open && open.jobId !== j.jobId && j.step > j.resumedFromStep) closeLosses(p, j.stage, now, j.resumedFromStep);
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
    `**${p.name}** on \`${p.baseModel}\`${p.model ? ` at commit \`${p.model.commit}\`` : ''}: ${p.state}, stage **${p.stage}**`,
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
    `host: ${p.host ?? '-'} · last checkpoint: ${p.lastCheckpointStep ?? '-'} · host losses: ${p.hostLosses} · steps redone: ${p.stepsRedone} · time lost: ${p.secondsLost} s`,
  );
  if (p.losses.length > 0) {
    lines.push('', '| lost host | stage | at step | resumed from | steps redone | to resume | time lost | why |', '|---|---|---|---|---|---|---|---|');
    for (const l of p.losses) {
      const secs = (x: number | null): string => (x === null ? '…' : `${x} s`);
      lines.push(
        `| ${l.hostId} | ${l.stage} | ${l.atStep} | ${l.checkpointStep} | ${l.stepsRedone} | ${secs(l.secondsToResume)} | ${secs(l.secondsLost)} | ${l.reason.replace(/\|/g, '/').slice(0, 120)} |`,
      );
    }
  }
  if (p.dpo && p.dpo.note) lines.push('', `dpo: ${p.dpo.shipped === 'sft' ? '**shipping the SFT model** · ' : ''}${p.dpo.note}`);
  if (p.metrics) {
    const m = p.metrics;
    lines.push('', `${m.primaryMetric}: base ${pct(m.models.base?.[m.primaryMetric])} · sft ${pct(m.models.sft?.[m.primaryMetric])} · dpo ${pct(m.models.dpo?.[m.primaryMetric])}`);
    lines.push(`report: ${m.report?.html ?? `runs/${p.runId}/report/report.html`}`);
  }
  if (p.gate) {
    const g = p.gate;
    lines.push('', `gate: **${g.state.replace('_', ' ')}**${g.by ? ` by ${g.by}` : ''}${g.note ? ` (${g.note})` : ''} · ${g.reason}`);
    if (g.state === 'awaiting_approval') {
      lines.push(
        `waiting until ${g.deadline}: \`finetune approve|reject ${p.runId} --note "..."\`, or the update \`approve\` or \`reject\` with {"note": "..."}; the approver on record is the caller's identity`,
      );
    }
  }
  if (p.cost) {
    const c = p.cost;
    const budget = c.budgetUsd === null ? '' : ` of $${c.budgetUsd} budget`;
    const wasted = c.split.wastedUsd.redone + c.split.wastedUsd.failed + c.split.wastedUsd.idle;
    lines.push('', `cost: $${c.spentUsd.toFixed(2)}${budget} (wasted $${wasted.toFixed(2)}; burning $${c.burnUsdPerHour.toFixed(2)}/h)${c.warning ? ` · **${c.warning}**` : ''}`);
    if (hasBuckets(c.split)) lines.push(splitLine(c.split));
    if (c.managed) {
      lines.push(
        `the same ${c.managed.trainedTokens.toLocaleString('en-US')} trained tokens (at most) on a managed service at $${c.managed.usdPerMillionTokens}/M: $${c.managed.usd.toFixed(2)}`,
      );
    }
  }
  if (p.promoted) lines.push('', `promoted **${p.promoted.model}** to ${p.promoted.uri}${p.promoted.commit ? ` (commit ${p.promoted.commit})` : ''}`);
  if (p.error) lines.push('', `error: ${p.error}`);
  return lines.join('\n');
}
