/**
 * The cost ledger of one run: each host's billed time from create to delete,
 * split by stage and into productive and wasted time. Plain data and pure
 * functions, so it lives inside the workflow and survives replay.
 */
import { billedSeconds, costUsd } from './billing';

export interface HostEntry {
  hostId: string;
  usdPerHour: number;
  createdAtMs: number;
  releasedAtMs: number | null;
}

export interface StageSpan {
  stage: string;
  hostId: string;
  startMs: number;
  endMs: number | null;
  outcome: 'running' | 'succeeded' | 'failed' | 'lost';
  /** Seconds of this span's work that had to be done again (after a host loss). */
  redoneSeconds: number;
}

export interface LedgerState {
  hosts: HostEntry[];
  spans: StageSpan[];
}

export interface CostSplit {
  totalUsd: number;
  productiveUsd: number;
  wastedUsd: { redone: number; failed: number; idle: number };
  byStageUsd: Record<string, number>;
  billedSeconds: number;
}

export const newLedger = (): LedgerState => ({ hosts: [], spans: [] });

export function hostUp(l: LedgerState, hostId: string, usdPerHour: number, atMs: number): void {
  if (!l.hosts.some((h) => h.hostId === hostId)) l.hosts.push({ hostId, usdPerHour, createdAtMs: atMs, releasedAtMs: null });
}

export function hostDown(l: LedgerState, hostId: string, atMs: number): void {
  const h = l.hosts.find((x) => x.hostId === hostId);
  if (h && h.releasedAtMs === null) h.releasedAtMs = atMs;
}

export function spanStart(l: LedgerState, stage: string, hostId: string, atMs: number): void {
  l.spans.push({ stage, hostId, startMs: atMs, endMs: null, outcome: 'running', redoneSeconds: 0 });
}

export function spanEnd(l: LedgerState, outcome: StageSpan['outcome'], atMs: number): StageSpan | undefined {
  const span = [...l.spans].reverse().find((s) => s.endMs === null);
  if (span) {
    span.endMs = atMs;
    span.outcome = outcome;
  }
  return span;
}

/** Charges redone work to the lost span that did it first. */
export function markRedone(l: LedgerState, stage: string, seconds: number): void {
  const lost = [...l.spans].reverse().find((s) => s.stage === stage && s.outcome === 'lost');
  if (lost) lost.redoneSeconds = Math.min(seconds, (lost.endMs ?? lost.startMs) - lost.startMs);
}

const seconds = (fromMs: number, toMs: number): number => Math.max(0, (toMs - fromMs) / 1000);

export function costSplit(l: LedgerState, nowMs: number): CostSplit {
  const split: CostSplit = {
    totalUsd: 0,
    productiveUsd: 0,
    wastedUsd: { redone: 0, failed: 0, idle: 0 },
    byStageUsd: {},
    billedSeconds: 0,
  };
  for (const host of l.hosts) {
    const billed = billedSeconds(host.createdAtMs, host.releasedAtMs ?? nowMs);
    split.billedSeconds += billed;
    split.totalUsd += costUsd(billed, host.usdPerHour);
    let busy = 0;
    for (const span of l.spans.filter((s) => s.hostId === host.hostId)) {
      const spanSeconds = seconds(span.startMs, span.endMs ?? nowMs);
      busy += spanSeconds;
      const usd = costUsd(spanSeconds, host.usdPerHour);
      split.byStageUsd[span.stage] = (split.byStageUsd[span.stage] ?? 0) + usd;
      if (span.outcome === 'failed') split.wastedUsd.failed += usd;
      else if (span.outcome === 'lost') split.wastedUsd.redone += costUsd(span.redoneSeconds, host.usdPerHour);
    }
    split.wastedUsd.idle += costUsd(Math.max(0, billed - busy), host.usdPerHour);
  }
  const wasted = split.wastedUsd.redone + split.wastedUsd.failed + split.wastedUsd.idle;
  split.productiveUsd = split.totalUsd - wasted;
  return split;
}

export function spentUsd(l: LedgerState, nowMs: number): number {
  return costSplit(l, nowMs).totalUsd;
}

/** USD per hour of the hosts held now: what each further second costs. */
export function burnRate(l: LedgerState): number {
  return l.hosts.filter((h) => h.releasedAtMs === null).reduce((sum, h) => sum + h.usdPerHour, 0);
}
