/**
 * The gpu-share bench's simulation on one short, hand-checked trace: the real
 * fineTunePipeline on the time-skipping server with the simulated host
 * provider. A preemption planned at t strikes at t; steps redone are the
 * distance to the last committed checkpoint (0 when the notice checkpoint
 * fits, 25 when an inline upload outlasts the notice, 7 when a background one
 * does, every step without checkpoints); the productive share is the
 * arithmetic of the billed seconds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BAKED_BOOT, defaultAssumptions, STOCK_BOOT, variantsOf, type Assumptions, type BootImage, type Policy, type UploadMode } from '../../bench/gpuShare/model';
import { runOne } from '../../bench/gpuShare/runOne';
import { parseTrace, TraceInvalid } from '../../bench/gpuShare/traces';
import { timeSkippingSuite } from '../support/temporal';

const suite = timeSkippingSuite();
let n = 0;

/** 150 SFT steps of 6 s, a 50-step DPO, a fixed 180 s boot: every second below can be counted by hand. */
function small(checkpointMb = 400): Assumptions {
  const a = defaultAssumptions({ stepS: 6, sftHours: 0.25, saveSteps: 25, checkpointMb, uploadMbPerS: 100 });
  a.stages.dpo = { steps: 50, stepS: 9, saveSteps: 25 };
  const fixed = [{ name: 'boot', medianS: 180, sigma: 0, source: 'test' }];
  a.boot = { stock: fixed, baked: fixed };
  return a;
}

// Boot 0-180, preflight 180-240, SFT from 240: step 25 ends at 390, so the notice (557) comes during step 52 (554-560).
const trace = parseTrace('{"at_s": 587}\n{"zone": "europe-west4-a", "at_s": 600}\n');

async function simulate(policy: Policy, a: Assumptions, image: BootImage = 'stock', uploads?: UploadMode) {
  const run = await runOne(suite.env, suite.bundle, { a, policy, image, uploads, trace, seed: 1, runId: `gpu-share-test-${++n}` });
  for (const c of run.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  // The workflow's own ledger bills each host from its insert to its delete, boot included, as the provider timed them
  // (it rounds each host up to whole seconds: under a cent here).
  assert.ok(run.workflowLedgerUsd !== null && Math.abs(run.workflowLedgerUsd - run.usd) < 0.01, `workflow ledger $${run.workflowLedgerUsd}, simulated provider $${run.usd}`);
  return run;
}

describe('gpu-share simulation', () => {
  it('durable-finetune, inline uploads: the notice checkpoint fits, 0 steps redone, resume from step 52; the billed seconds add up', async () => {
    const run = await simulate('durable-finetune', small(), 'stock', 'inline');
    const w = run.world;
    assert.equal(w.strikes.length, 1, 'the europe-west4-a preemption strikes no host in us-central1-a');
    assert.equal(w.strikes[0].plannedMs - w.t0Ms, 557_000);
    assert.ok(w.strikes[0].observedMs - w.strikes[0].plannedMs < 1000);
    assert.deepEqual(
      w.jobs.filter((j) => j.jobId.startsWith('sft')).map((j) => [j.jobId, j.resume, j.fromStep]),
      [
        ['sft-1', false, 0],
        ['sft-2', true, 52],
      ],
    );
    assert.equal(run.finished, true);
    assert.equal(run.hostLosses, 1);
    assert.equal(run.stepsRedone, 0);
    // h1: 587 s, to the hard stop. h2: boot 180, SFT 98 steps (588) + uploads at 75/100/125 (12), merge 300,
    // DPO 450 + one upload (4), eval 600, delete 30.
    const billed = 587 + 180 + 588 + 12 + 300 + 454 + 600 + 30;
    assert.ok(Math.abs(run.billedS - billed) < 2, `billed ${run.billedS} s, by hand ${billed} s`);
    const productive = 60 + 900 + 300 + 450 + 600;
    assert.equal(run.productiveS, productive);
    assert.equal(run.bootS, 360);
    assert.equal(run.uploadS, (3 + 3 + 1) * 4, 'h1: 25, 50 and the notice; h2: 75, 100, 125; DPO: 25');
    assert.ok(Math.abs(run.productiveS / run.billedS - productive / billed) < 0.001);
  });

  it('durable-finetune, inline uploads: an upload longer than the notice commits nothing; 25 steps redone from the checkpoint at 25', async () => {
    // Uploads of 40 s: step 25 ends 390, its upload commits 430; step 50 ends 580 and is uploading at the stop (587).
    const run = await simulate('durable-finetune', small(4000), 'stock', 'inline');
    assert.equal(run.stepsRedone, 25);
    assert.deepEqual(
      run.world.losses.map((l) => [l.lastStep, l.committed]),
      [[50, 25]],
    );
    assert.equal(run.world.jobs.find((j) => j.jobId === 'sft-2')?.fromStep, 25);
  });

  it('durable-finetune, background uploads (its default): steps never wait on a periodic upload; the notice save waits only for its own', async () => {
    const run = await simulate('durable-finetune', small());
    assert.equal(run.uploads, 'background');
    // No holds: step k ends at 240 + 6k. The notice (557) comes during step 53 (552-558), whose save commits at 562.
    assert.deepEqual(
      run.world.losses.map((l) => [l.lastStep, l.committed]),
      [[53, 53]],
    );
    assert.equal(run.stepsRedone, 0);
    // h1: 587 s to the hard stop. h2: boot 180, SFT 97 steps (582, its uploads at 75/100/125 beside them), merge 300,
    // DPO 450 (its upload at 25 beside it), eval 600, delete 30.
    const billed = 587 + 180 + 582 + 300 + 450 + 600 + 30;
    assert.ok(Math.abs(run.billedS - billed) < 2, `billed ${run.billedS} s, by hand ${billed} s`);
    assert.equal(run.productiveS, 60 + 900 + 300 + 450 + 600);
    assert.equal(run.uploadS, 4, 'only the save on the notice held the GPU: 558-562');
  });

  it('durable-finetune, background uploads of 40 s: the upload of step 50 commits before the stop; 7 steps redone (inline: 25)', async () => {
    // Step 25 ends 390 and uploads 390-430, step 50 ends 540 and uploads 540-580, both beside the steps. The notice
    // save (step 53, 558) would wait for 580 and commit at 620, after the stop (587): checkpoint-50 is the newest.
    const run = await simulate('durable-finetune', small(4000));
    assert.deepEqual(
      run.world.losses.map((l) => [l.lastStep, l.committed]),
      [[57, 50]],
    );
    assert.equal(run.stepsRedone, 7);
    assert.equal(run.world.jobs.find((j) => j.jobId === 'sft-2')?.fromStep, 50);
  });

  it('restart-from-scratch: every step before the stop is redone', async () => {
    const run = await simulate('restart-from-scratch', small());
    // No uploads: step k ends at 240 + 6k; 57 steps are done at 587.
    assert.equal(run.stepsRedone, 57);
    assert.equal(run.world.jobs.find((j) => j.jobId === 'sft-2')?.fromStep, 0);
    assert.equal(run.uploadS, 0);
  });

  it('durable-finetune on a baked image boots each host in the baked time (vm_create and model_load only); the others boot the stock image', async () => {
    const a = small();
    a.boot = { stock: [{ name: 'boot', medianS: 180, sigma: 0, source: 'test' }], baked: [{ name: 'boot', medianS: 60, sigma: 0, source: 'test' }] };
    const stock = await simulate('durable-finetune', a, 'stock');
    const baked = await simulate('durable-finetune', a, 'baked');
    assert.equal(baked.image, 'baked');
    assert.equal(stock.hostLosses, 1);
    assert.equal(baked.hostLosses, 1);
    assert.ok(Math.abs(stock.bootS - 2 * 180) < 1, `stock boots ${stock.bootS} s`);
    assert.ok(Math.abs(baked.bootS - 2 * 60) < 1, `baked boots ${baked.bootS} s`);
    assert.ok(baked.productiveS / baked.billedS > stock.productiveS / stock.billedS);
    assert.deepEqual(
      BAKED_BOOT.map((p) => [p.name, p.medianS]),
      STOCK_BOOT.filter((p) => p.name === 'vm_create' || p.name === 'model_load').map((p) => [p.name, p.medianS]),
    );
    assert.deepEqual(variantsOf(['durable-finetune', 'restart-from-scratch', 'skypilot-like'], ['stock', 'baked'], a), [
      { policy: 'durable-finetune', image: 'stock', uploads: 'inline' },
      { policy: 'durable-finetune', image: 'stock', uploads: 'background' },
      { policy: 'durable-finetune', image: 'baked', uploads: 'background' },
      { policy: 'restart-from-scratch', image: 'stock', uploads: 'inline' },
      { policy: 'skypilot-like', image: 'stock', uploads: 'inline' },
    ]);
  });

  it('skypilot-like: the loss is seen at the next 15 s status poll and the next VM is created 60 s later', async () => {
    const run = await simulate('skypilot-like', small());
    const [h1, h2] = [...run.world.hosts.values()];
    // Status polls every 15 s from the job's start (240): the first at or after the stop (587) is 600.
    assert.ok(Math.abs(run.world.losses[0].detectedMs - run.world.t0Ms - 600_000) < 1000);
    assert.ok(Math.abs(h2.createdMs - h1.createdMs - 660_000) < 1000, `h2 created at +${(h2.createdMs - h1.createdMs) / 1000} s`);
    assert.equal(run.stepsRedone, 57);
  });

  it('refuses a trace line without at_s, naming the line and the fix', () => {
    assert.throws(
      () => parseTrace('{"at_s": 5}\n{"zone": "us-central1-a"}\n', 'season.jsonl'),
      (err: Error) => {
        assert.ok(err instanceof TraceInvalid);
        assert.match(err.message, /season\.jsonl line 2: at_s must be a number of seconds/);
        return true;
      },
    );
  });
});
