import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { billedSeconds, costUsd } from '../../src/cost/billing';
import { costSplit, hostDown, hostUp, markRedone, newLedger, spanEnd, spanStart, burnRate } from '../../src/cost/ledger';
import { hourlyRate, PriceUnknown } from '../../src/cost/prices';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';

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
    assert.equal(split.wastedUsd.idle, (125 - 110) + (70 - 65));
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
      (err: unknown) =>
        err instanceof ConfigInvalid && err.issues.some((i) => i.field === 'cost.prices' && /add cost\.prices\.a3-megagpu-8g: \{ on_demand/.test(i.problem)),
    );
    assert.equal(parseConfig(config('a3-megagpu-8g', { 'a3-megagpu-8g': { on_demand: 88, spot: 30 } })).host.provider, 'gce');
    assert.equal(parseConfig(config('a2-highgpu-2g')).host.provider, 'gce', 'the built-in table');
  });
});
