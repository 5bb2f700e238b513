import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { billedSeconds, costUsd } from '../../src/cost/billing';
import {
  burnRate,
  capacityWaited,
  costSplit,
  hostDown,
  hostUp,
  markRedone,
  newLedger,
  provisionEmpty,
  provisionFailed,
  spanEnd,
  spanStart,
  splitLine,
  type CostSplit,
} from '../../src/cost/ledger';
import { hourlyRate, PriceUnknown } from '../../src/cost/prices';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { costLine } from '../../src/cli/costLine';
import type { CostSummary } from '../../workflows/cost';

const S = 1000;

describe('billing rules', () => {
  it('bills per second, rounding a started second up', () => {
    assert.equal(billedSeconds(0, 90.2 * S), 91);
  });
  it('bills at least one minute', () => {
    assert.equal(billedSeconds(0, 5 * S), 60);
    assert.equal(billedSeconds(0, 0), 60);
  });
  it('turns seconds into dollars at an hourly rate', () => {
    assert.equal(costUsd(1800, 2.59), 1.295);
  });
  it('prices spot and on-demand GPU hosts from the table, local at the configured rate', () => {
    assert.equal(hourlyRate({ provider: 'gce', machine_type: 'a2-highgpu-2g', spot: true }, {}, 0), 2.59);
    assert.equal(hourlyRate({ provider: 'gce', machine_type: 'a2-highgpu-2g', spot: false }, {}, 0), 7.35);
    assert.equal(hourlyRate({ provider: 'gce', machine_type: 'a2-highgpu-1g' }, { 'a2-highgpu-1g': { on_demand: 1, spot: 0.5 } }, 0), 0.5);
    assert.equal(hourlyRate({ provider: 'local' }, {}, 0), 0);
    assert.throws(() => hourlyRate({ provider: 'gce', machine_type: 'n1-standard-1' }, {}, 0), PriceUnknown);
  });
});

describe('the cost ledger', () => {
  it('splits a run with a lost host into productive, redone, failed and idle time', () => {
    const l = newLedger();
    // host 1 at $3600/h ($1/s): up at 0, preflight 10-20 s, sft 20-120 s then lost; 30 s of it redone.
    hostUp(l, 'h1', 3600, 0);
    spanStart(l, 'preflight', 'h1', 10 * S);
    spanEnd(l, 'succeeded', 20 * S);
    spanStart(l, 'sft', 'h1', 20 * S);
    spanEnd(l, 'lost', 120 * S);
    hostDown(l, 'h1', 125 * S);
    // host 2: up at 130 s, failed preflight 135-140 s, sft 140-200 s, released at 200 s.
    hostUp(l, 'h2', 3600, 130 * S);
    spanStart(l, 'preflight', 'h2', 135 * S);
    spanEnd(l, 'failed', 140 * S);
    spanStart(l, 'sft', 'h2', 140 * S);
    spanEnd(l, 'succeeded', 200 * S);
    markRedone(l, 'sft', 30);
    hostDown(l, 'h2', 200 * S);

    const split = costSplit(l, 300 * S);
    assert.equal(split.billedSeconds, 125 + 70);
    assert.equal(split.totalUsd, 195);
    assert.equal(split.wastedUsd.redone, 30);
    assert.equal(split.wastedUsd.failed, 5);
    assert.equal(split.wastedUsd.idle, 125 - 110 + (70 - 65));
    assert.equal(split.productiveUsd, 195 - 30 - 5 - 20);
    assert.equal(split.byStageUsd.sft, 160);
    assert.equal(split.byStageUsd.preflight, 15);
  });

  it('bills a host still held up to now, with the one-minute minimum', () => {
    const l = newLedger();
    hostUp(l, 'h1', 3600, 0);
    assert.equal(costSplit(l, 10 * S).totalUsd, 60);
    assert.equal(costSplit(l, 100 * S).totalUsd, 100);
    assert.equal(burnRate(l), 3600);
    hostDown(l, 'h1', 100 * S);
    assert.equal(burnRate(l), 0);
  });
});

describe('billing from insert to delete', () => {
  const bucketsAddUp = (split: CostSplit) => {
    const s = split.seconds;
    assert.ok(Math.abs(s.boot + s.productive + s.redone + s.idle + s.failed - split.billedSeconds) < 1e-6, 'the buckets add up to the billed seconds');
    const w = split.wastedUsd;
    assert.ok(Math.abs(split.bootUsd + split.productiveUsd + w.redone + w.idle + w.failed - split.totalUsd) < 1e-9, 'and to the bill');
  };

  it('bills boot from the insert to the first heartbeat, and the life the provider timed', () => {
    const l = newLedger();
    // $1/s. The lease came at 100 s after a 40 s boot; sft ran 100-200 s; the delete completed
    // 150 s after the insert by the provider's clock (the workflow heard of it at 230 s).
    hostUp(l, 'h1', 3600, 100 * S, 40 * S);
    assert.equal(costSplit(l, 100 * S).totalUsd, 60, 'a booted host is billed its minimum at once');
    assert.equal(costSplit(l, 130 * S).bootUsd, 40);
    spanStart(l, 'sft', 'h1', 100 * S);
    spanEnd(l, 'succeeded', 200 * S);
    hostDown(l, 'h1', 230 * S, 150 * S);
    const split = costSplit(l, 500 * S);
    assert.equal(split.totalUsd, 150, 'the provider-timed life, not the workflow clock (170 s)');
    assert.deepEqual(split.seconds, { boot: 40, productive: 100, redone: 0, idle: 10, failed: 0 });
    assert.deepEqual(split.hosts, [{ hostId: 'h1', lifeSeconds: 150, billedSeconds: 150, bootSeconds: 40, usd: 150, failed: null, held: false }]);
    bucketsAddUp(split);
  });

  it('bills a VM whose agent never started as failed, at least a minute; no VM and capacity waits at $0', () => {
    const l = newLedger();
    provisionFailed(l, 'h1', 3600, 1300 * S, 1230.4 * S, 'AgentStartTimeout: no heartbeat');
    provisionFailed(l, 'h2', 3600, 1400 * S, 20 * S, 'AgentStartTimeout: no heartbeat');
    provisionEmpty(l);
    capacityWaited(l, 600);
    hostUp(l, 'h3', 3600, 2000 * S, 30 * S);
    hostDown(l, 'h3', 2100 * S);
    const split = costSplit(l, 3000 * S);
    assert.equal(split.wastedUsd.failed, 1231 + 60, 'whole seconds, a minute at least');
    assert.deepEqual(split.failedProvisions, { withVm: 2, withoutVm: 1 });
    assert.equal(split.capacityWaitS, 600);
    assert.equal(split.totalUsd, 1231 + 60 + 130, 'the wait and the empty provision add nothing');
    assert.equal(split.bootUsd, 30);
    assert.equal(burnRate(l), 0, 'failed VMs are deleted: nothing burns');
    bucketsAddUp(split);
    assert.equal(
      splitLine(split),
      'boot $30.00 · productive $0.00 · redone $0.00 · idle $100.00 · failed $1291.00 (2 provisions whose agent never started; 1 provision that got no VM: $0; 600 s waiting for capacity with no VM: $0)',
    );
  });

  it('fits work into what is billed after boot, so buckets never exceed the bill', () => {
    const l = newLedger();
    hostUp(l, 'h1', 3600, 100 * S, 50 * S);
    spanStart(l, 'sft', 'h1', 100 * S);
    spanEnd(l, 'lost', 400 * S);
    markRedone(l, 'sft', 120);
    // The provider says the VM lived 200 s, less than the workflow clock saw: the work is capped at 150 s.
    hostDown(l, 'h1', 400 * S, 200 * S);
    const split = costSplit(l, 400 * S);
    assert.equal(split.billedSeconds, 200);
    assert.deepEqual(split.seconds, { boot: 50, productive: 30, redone: 120, idle: 0, failed: 0 });
    bucketsAddUp(split);
  });
});

describe('the cost line of finetune status', () => {
  const summary = (split: CostSplit): CostSummary => ({
    spentUsd: split.totalUsd,
    budgetUsd: 50,
    burnUsdPerHour: 0,
    projectedStageEndUsd: split.totalUsd,
    warning: null,
    split,
    managed: null,
  });
  it('shows the five buckets and the $0 provisions', () => {
    const l = newLedger();
    provisionEmpty(l);
    hostUp(l, 'h1', 3600, 100 * S, 40 * S);
    spanStart(l, 'sft', 'h1', 100 * S);
    spanEnd(l, 'succeeded', 190 * S);
    hostDown(l, 'h1', 200 * S);
    assert.equal(
      costLine(summary(costSplit(l, 200 * S))),
      'cost: $140.00 of a $50 budget for 140 billed host seconds: boot $40.00 · productive $90.00 · redone $0.00 · idle $10.00 · failed $0.00 (1 provision that got no VM: $0)',
    );
  });
  it('reads a summary of a run recorded before the buckets', () => {
    const old = { totalUsd: 2, productiveUsd: 1.5, wastedUsd: { redone: 0.25, failed: 0, idle: 0.25 }, byStageUsd: {}, billedSeconds: 7200 } as unknown as CostSplit;
    assert.equal(costLine(summary(old)), 'cost: $2.00 of a $50 budget for 7200 billed host seconds, $0.50 of it wasted');
  });
});

describe('prices at config time', () => {
  const config = (machine_type: string, prices?: object) => ({
    name: 'prices',
    store: 'gs://bucket/runs',
    model: { base: 'hf:org/m' },
    data: { sft: 'a.jsonl', preferences: 'b.jsonl', eval: 'c.jsonl' },
    host: { provider: 'gce', project: 'finetune-test', zones: ['us-central1-a'], machine_type, trainer_image: 'us-docker.pkg.dev/p/r/trainer:1' },
    ...(prices ? { cost: { prices } } : {}),
  });
  it('a gce machine type without a known price is refused before a VM starts, naming cost.prices and the fix', () => {
    assert.throws(
      () => parseConfig(config('a3-megagpu-8g')),
      (err: unknown) => err instanceof ConfigInvalid && err.issues.some((i) => i.field === 'cost.prices' && /add cost\.prices\.a3-megagpu-8g: \{ on_demand/.test(i.problem)),
    );
    assert.equal(parseConfig(config('a3-megagpu-8g', { 'a3-megagpu-8g': { on_demand: 88, spot: 30 } })).host.provider, 'gce');
    assert.equal(parseConfig(config('a2-highgpu-2g')).host.provider, 'gce', 'the built-in table');
  });
});
