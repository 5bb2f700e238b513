/**
 * The cost ledger of one run: every VM's billed time from the moment its
 * insert was accepted to the moment its delete completed, split into boot,
 * productive, redone, idle and failed (docs/cost.md). Plain data and pure
 * functions, so it lives inside the workflow and survives replay.
 *
 * Two clocks meet here. A host's boot (insert accepted -> first heartbeat)
 * and, once it is deleted, its whole life are durations the host activities
 * measured against the provider's own timestamps; the workflow places them on
 * its clock, ending where it learned of them. Stage spans are on the
 * workflow's clock.
 */
import { billedSeconds, costUsd } from './billing';

export interface HostEntry {
  hostId: string;
  usdPerHour: number;
  /** Billing began: the insert accepted (GCE) or the agent process started (local). */
  createdAtMs: number;
  /** The host became usable (its agent's first heartbeat); boot is createdAt -> readyAt. */
  readyAtMs: number;
  releasedAtMs: number | null;
  /** Insert accepted -> delete done as the provider timed it; null: releasedAt - createdAt. */
  lifetimeMs: number | null;
  /** Why it never became a usable host (its whole bill is failed); null for a host that did. */
  failed: string | null;
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
  /** Seconds provisioning waited for capacity while it held no VM: billed nothing. */
  capacityWaitS: number;
  /** Provisions that ended with no VM at all (stockout, quota): billed nothing. */
  emptyProvisions: number;
}

/** Billed seconds by bucket; they add up to the bill's billedSeconds. */
export interface CostBuckets {
  boot: number;
  productive: number;
  redone: number;
  idle: number;
  failed: number;
}

/** One VM's bill. */
export interface HostBill {
  hostId: string;
  /** Insert accepted -> delete done (or now, while held), unrounded. */
  lifeSeconds: number;
  /** What the provider charges: whole seconds, at least a minute. */
  billedSeconds: number;
  bootSeconds: number;
  usd: number;
  failed: string | null;
  held: boolean;
}

export interface CostSplit {
  totalUsd: number;
  productiveUsd: number;
  /** Insert accepted -> first heartbeat of every host that became usable. */
  bootUsd: number;
  wastedUsd: { redone: number; failed: number; idle: number };
  byStageUsd: Record<string, number>;
  billedSeconds: number;
  seconds: CostBuckets;
  /** Provisions that never reached a usable host: those that held a VM (billed, in `failed`) and those that held none ($0). */
  failedProvisions: { withVm: number; withoutVm: number };
  /** Waiting for capacity with no VM held: $0. */
  capacityWaitS: number;
  hosts: HostBill[];
}

export const newLedger = (): LedgerState => ({ hosts: [], spans: [], capacityWaitS: 0, emptyProvisions: 0 });

/** A host became usable at `readyAtMs`, after `bootMs` of billed boot (0 where the boot is not known). */
export function hostUp(l: LedgerState, hostId: string, usdPerHour: number, readyAtMs: number, bootMs = 0): void {
  if (l.hosts.some((h) => h.hostId === hostId && h.failed === null)) return;
  l.hosts.push({ hostId, usdPerHour, createdAtMs: readyAtMs - Math.max(0, bootMs), readyAtMs, releasedAtMs: null, lifetimeMs: null, failed: null });
}

/** The host's delete completed (the workflow learned of it at `atMs`); `lifetimeMs` when the provider timed it. */
export function hostDown(l: LedgerState, hostId: string, atMs: number, lifetimeMs: number | null = null): void {
  const h = l.hosts.find((x) => x.hostId === hostId && x.failed === null);
  if (!h || h.releasedAtMs !== null) return;
  h.releasedAtMs = atMs;
  if (lifetimeMs !== null) h.lifetimeMs = Math.max(0, lifetimeMs);
}

/** A VM that never became a usable host, billed for `lifetimeMs` (insert accepted -> delete done), learned of at `atMs`. */
export function provisionFailed(l: LedgerState, hostId: string, usdPerHour: number, atMs: number, lifetimeMs: number, reason: string): void {
  const life = Math.max(0, lifetimeMs);
  l.hosts.push({ hostId, usdPerHour, createdAtMs: atMs - life, readyAtMs: atMs, releasedAtMs: atMs, lifetimeMs: life, failed: reason });
}

/** A provision that ended holding no VM (a stockout outlasting capacity_wait_s, a quota): $0. */
export function provisionEmpty(l: LedgerState): void {
  l.emptyProvisions += 1;
}

/** Seconds spent waiting for capacity with no VM held. */
export function capacityWaited(l: LedgerState, seconds: number): void {
  l.capacityWaitS += Math.max(0, seconds);
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
    bootUsd: 0,
    wastedUsd: { redone: 0, failed: 0, idle: 0 },
    byStageUsd: {},
    billedSeconds: 0,
    seconds: { boot: 0, productive: 0, redone: 0, idle: 0, failed: 0 },
    failedProvisions: { withVm: 0, withoutVm: l.emptyProvisions },
    capacityWaitS: l.capacityWaitS,
    hosts: [],
  };
  for (const host of l.hosts) {
    const lifeMs = host.lifetimeMs ?? Math.max(0, (host.releasedAtMs ?? nowMs) - host.createdAtMs);
    const billed = billedSeconds(0, lifeMs);
    const bucket: CostBuckets = { boot: 0, productive: 0, redone: 0, idle: 0, failed: 0 };
    if (host.failed !== null) {
      split.failedProvisions.withVm += 1;
      bucket.failed = billed;
    } else {
      bucket.boot = Math.min(billed, seconds(host.createdAtMs, host.readyAtMs));
      // Work on the host fits in what is billed after boot; the rest (the minimum, waits between stages, the delete) is idle.
      let room = billed - bucket.boot;
      for (const span of l.spans.filter((s) => s.hostId === host.hostId)) {
        const spanSeconds = Math.min(room, seconds(span.startMs, span.endMs ?? nowMs));
        room -= spanSeconds;
        split.byStageUsd[span.stage] = (split.byStageUsd[span.stage] ?? 0) + costUsd(spanSeconds, host.usdPerHour);
        const redone = span.outcome === 'lost' ? Math.min(spanSeconds, span.redoneSeconds) : 0;
        if (span.outcome === 'failed') bucket.failed += spanSeconds;
        else bucket.productive += spanSeconds - redone;
        bucket.redone += redone;
      }
      bucket.idle = room;
    }
    const usd = (s: number) => costUsd(s, host.usdPerHour);
    split.billedSeconds += billed;
    split.totalUsd += usd(billed);
    split.bootUsd += usd(bucket.boot);
    split.productiveUsd += usd(bucket.productive);
    split.wastedUsd.redone += usd(bucket.redone);
    split.wastedUsd.failed += usd(bucket.failed);
    split.wastedUsd.idle += usd(bucket.idle);
    for (const k of Object.keys(bucket) as (keyof CostBuckets)[]) split.seconds[k] += bucket[k];
    split.hosts.push({
      hostId: host.hostId,
      lifeSeconds: lifeMs / 1000,
      billedSeconds: billed,
      bootSeconds: bucket.boot,
      usd: usd(billed),
      failed: host.failed,
      held: host.releasedAtMs === null,
    });
  }
  return split;
}

export function spentUsd(l: LedgerState, nowMs: number): number {
  return costSplit(l, nowMs).totalUsd;
}

/** USD per hour of the hosts held now: what each further second costs. */
export function burnRate(l: LedgerState): number {
  return l.hosts.filter((h) => h.releasedAtMs === null).reduce((sum, h) => sum + h.usdPerHour, 0);
}

/** What the one-line split needs; the report carries just this. */
export type SplitFacts = Pick<CostSplit, 'bootUsd' | 'productiveUsd' | 'wastedUsd' | 'failedProvisions' | 'capacityWaitS'>;

export const splitFacts = (s: CostSplit): SplitFacts => ({
  bootUsd: s.bootUsd,
  productiveUsd: s.productiveUsd,
  wastedUsd: s.wastedUsd,
  failedProvisions: s.failedProvisions,
  capacityWaitS: s.capacityWaitS,
});

/** Whether a split has the five buckets: summaries of runs recorded before billing from create to delete do not. */
export function hasBuckets(s: Partial<SplitFacts>): s is SplitFacts {
  return typeof s.bootUsd === 'number' && s.failedProvisions !== undefined;
}

/** The split in one line, for the CLI, the workflow's details and the report: `boot $0.12 · productive $3.40 · ...`. */
export function splitLine(s: SplitFacts): string {
  const parts = [
    `boot $${s.bootUsd.toFixed(2)}`,
    `productive $${s.productiveUsd.toFixed(2)}`,
    `redone $${s.wastedUsd.redone.toFixed(2)}`,
    `idle $${s.wastedUsd.idle.toFixed(2)}`,
    `failed $${s.wastedUsd.failed.toFixed(2)}`,
  ];
  const notes: string[] = [];
  const failed = s.failedProvisions;
  if (failed.withVm) notes.push(`${failed.withVm} provision${failed.withVm > 1 ? 's' : ''} whose agent never started`);
  if (failed.withoutVm) notes.push(`${failed.withoutVm} provision${failed.withoutVm > 1 ? 's' : ''} that got no VM: $0`);
  if (s.capacityWaitS >= 1) notes.push(`${Math.round(s.capacityWaitS)} s waiting for capacity with no VM: $0`);
  return parts.join(' · ') + (notes.length ? ` (${notes.join('; ')})` : '');
}
