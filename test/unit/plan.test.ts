/** `finetune plan`: the CLI as a user runs it, and the arithmetic behind its figures. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { prepareActivities } from '../../activities/prepare';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { MACHINE_PRICES, priceSource } from '../../src/cost/prices';
import { estimate, gceBootSeconds, GCE_BOOT_SECONDS, type PlanInputs } from '../../src/plan/estimate';
import { isBakedImage } from '../../src/hosts/bakedImage';
import { loadConfigFile } from '../../src/config/load';
import { lengthStats } from '../../src/plan/lengths';
import { paramsOfConfig } from '../../src/plan/modelSize';
import { planRun, type Plan } from '../../src/plan/plan';
import { repeatedPrompts } from '../../src/plan/repeats';
import { projectRoot } from '../../src/paths';
import { openStore } from '../../src/store/open';
import { finetune } from '../support/cli';
import { scratchDir } from '../support/scratch';

const tinyData = (name: string) => path.join(projectRoot, 'examples/tiny/data', name);
const tinyConfig = (over: Record<string, unknown> = {}) =>
  parseConfig({
    name: 'plan-test',
    store: path.join(projectRoot, '.finetune/plan-test-store'),
    model: { base: path.join(projectRoot, 'examples/tiny/model') },
    data: { sft: tinyData('sft.jsonl'), preferences: tinyData('preferences.jsonl'), eval: tinyData('eval.jsonl') },
    ...over,
  });

describe('finetune plan with the tokenizer (each in its own Python process)', { concurrency: true }, () => {
  it('the tiny example --json: one JSON object, tokens counted with the model tokenizer, steps, hours and dollars', async () => {
    const r = await finetune(['plan', 'examples/tiny/config.yaml', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const p = JSON.parse(r.stdout) as Plan;
    assert.equal(p.tokens_method, 'tokenizer');
    assert.deepEqual(p.rows, { sft: 456, preferences: 200, eval: 48 });
    // trl's own tokenized dataset of the tiny example has these lengths (checked against SFTTrainer and DPOTrainer).
    assert.deepEqual(p.tokens, { sft: 30017, preferences: 26160, eval_prompts: 2250 });
    assert.equal(p.lengths?.sft.truncated_share, 0);
    assert.ok(p.lengths!.sft.min <= p.lengths!.sft.p50 && p.lengths!.sft.p50 <= p.lengths!.sft.p99 && p.lengths!.sft.p99 <= p.lengths!.sft.max);
    assert.equal(p.steps, 250 + 40);
    assert.equal(p.repeats?.eval_items, 0);
    assert.ok(typeof p.wall_hours === 'number' && p.wall_hours > 0);
    assert.equal(p.gpu_hours, null, 'a local host has no known GPUs');
    assert.deepEqual(p.usd, { spot: 0, on_demand: 0 });
    assert.equal(p.budget_ok, true);
  });

  it('the GCP example prints a plan without reaching Google Cloud: its gs:// data left for the run start', async () => {
    const r = await finetune(['plan', 'examples/gcp/a100x2-spot.yaml'], {
      STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9',
      GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/credentials.json',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /plan for examples\/gcp\/a100x2-spot\.yaml: qwen-tool-calls, model hf:Qwen\/Qwen2\.5-3B-Instruct \(3B parameters\), host a2-highgpu-2g \(2 GPU\)/);
    assert.match(r.stdout, /gs:\/\/ data is read when the run starts; every row is assumed max_length tokens long/);
    assert.match(r.stdout, /spot .* at \$2\.59\/h = \$\d+\.\d\d {3}<- this config/);
    assert.match(r.stdout, /on-demand .* at \$7\.35\/h = \$\d+\.\d\d/);
    assert.match(r.stdout, /budget: none set/);
  });

  it('an hf: model fetched into the local store by an earlier run: counted with its tokenizer; never fetched: estimated from bytes', async () => {
    const dir = scratchDir('plan-hub-');
    try {
      const hf = (store: string) => tinyConfig({ store: `file://${store}`, model: { base: 'hf:tiny-org/tiny-llama' } });
      const fresh = await planRun(hf(path.join(dir, 'empty')), { tokenizer: true });
      assert.equal(fresh.tokens_method, 'bytes');
      assert.match(fresh.tokens_note, /hf:tiny-org\/tiny-llama is not on this machine, so tokens estimated from the rows' bytes at 4 bytes per token/);
      const commit = 'a'.repeat(40);
      fs.cpSync(path.join(projectRoot, 'examples/tiny/model'), path.join(dir, 'store/hub/models/tiny-org/tiny-llama', commit), { recursive: true });
      const cached = await planRun(hf(path.join(dir, 'store')), { tokenizer: true });
      assert.equal(cached.tokens_method, 'tokenizer');
      assert.match(cached.tokens_note, new RegExp(`as an earlier run fetched it into the store .*${commit}`));
      assert.equal(cached.tokens?.sft, 30017, 'the same count as the local folder gives');
      assert.equal(cached.model.params, 2 * (2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512) + 583 * 256);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('plan arithmetic', () => {
  // 3600 steps of 8 rows x 500 tokens at 4000 tokens/s: 1 s per step, 1 h of training.
  const inputs: PlanInputs = {
    stages: [{ stage: 'sft', steps: 3600, rows_per_step: 8, tokens_per_row: 500, cost_factor: 1, save_steps: 20 }],
    tokens_per_s: 4000,
    gpus: 2,
    price: { spot: 2, on_demand: 5 },
    boot_s: 360,
    preemptions_per_hour: 0.5,
    spot: true,
  };

  it('steps to tokens to hours to dollars, spot with its preemption overhead', () => {
    const e = estimate(inputs);
    assert.equal(e.steps, 3600);
    assert.equal(e.tokens_trained, 3600 * 8 * 500);
    assert.equal(e.stages[0].step_seconds, 1);
    assert.equal(e.training_hours, 1);
    // on demand: 1 h training + 0.1 h boot; spot adds 0.5 preemptions x (360 s boot + 10 redone steps of 1 s).
    assert.deepEqual(e.on_demand, { wall_hours: 1.1, gpu_hours: 2.2, usd: 5.5, preemptions: 0 });
    assert.deepEqual(e.spot, { wall_hours: 1.151, gpu_hours: 2.303, usd: 2.3, preemptions: 0.5 });
  });

  it('budget_ok holds the configured provisioning against the budget; true without one; null when the cost is unknown', () => {
    assert.equal(estimate({ ...inputs, budget_usd: 3 }).budget_ok, true);
    assert.equal(estimate({ ...inputs, budget_usd: 2 }).budget_ok, false);
    assert.equal(estimate({ ...inputs, spot: false, budget_usd: 3 }).budget_ok, false);
    assert.equal(estimate(inputs).budget_ok, true);
    const unknown = estimate({ ...inputs, tokens_per_s: null, budget_usd: 3 });
    assert.equal(unknown.budget_ok, null);
    assert.equal(unknown.spot.usd, null);
  });

  it('a DPO step costs more per token (reference forward), gradient checkpointing more again', async () => {
    const p = await planRun(tinyConfig({ dpo: { max_steps: 10, save_steps: 5, gradient_checkpointing: true } }), { tokenizer: false });
    const [sft, dpo] = p.stages;
    const perToken = (s: typeof sft, rows: number) => s.step_seconds! / (rows * (s.tokens / s.steps / rows));
    assert.ok(Math.abs(perToken(dpo, 8) / perToken(sft, 8) - 2) < 0.01, 'DPO with checkpointing: (4+2+2)/4 of SFT');
  });

  it('cost.throughput overrides the host figure; the budget is refused when the plan exceeds it', async () => {
    const p = await planRun(tinyConfig({ cost: { throughput: { local: 100 }, local_usd_per_hour: 10, budget_usd: 1 } }), { tokenizer: false });
    assert.equal(p.tokens_method, 'bytes');
    assert.equal(p.throughput.sft_tokens_per_s, 100);
    assert.match(p.throughput.source, /cost\.throughput\.local/);
    assert.ok(p.usd.on_demand! > 1);
    assert.equal(p.budget_ok, false);
  });
});

describe('plan without the virtualenv, and cost.throughput keys', () => {
  it('a missing virtualenv falls back to the bytes estimate and says how to make it', async () => {
    const before = process.env.FINETUNE_AGENT_PYTHON;
    process.env.FINETUNE_AGENT_PYTHON = '/nonexistent/python';
    try {
      const p = await planRun(tinyConfig(), { tokenizer: true });
      assert.equal(p.tokens_method, 'bytes');
      assert.match(p.tokens_note, /virtualenv \(\/nonexistent\/python\) is missing.*npm run setup/);
    } finally {
      if (before === undefined) delete process.env.FINETUNE_AGENT_PYTHON;
      else process.env.FINETUNE_AGENT_PYTHON = before;
    }
  });

  it('a cost.throughput key that is no host is refused, naming the field and the fix', () => {
    assert.throws(
      () => tinyConfig({ cost: { throughput: { A100: 5000 } } }),
      (err: unknown) => err instanceof ConfigInvalid && /cost\.throughput\.A100: is not a host: use local or a GCE machine type such as a2-highgpu-2g/.test(err.message),
    );
    assert.equal(tinyConfig({ cost: { throughput: { local: 10, 'g2-standard-8': 3000 } } }).cost.throughput['g2-standard-8'], 3000);
  });
});

describe('a run records its plan', () => {
  it('prepareRun writes plan.json beside run.json: the same figures, tokens from the bytes', async () => {
    const dir = scratchDir('plan-prepare-');
    try {
      const config = tinyConfig({ store: `file://${dir}/store`, cost: { budget_usd: 5 } });
      const { prepareRun } = prepareActivities({ projectRoot, python: 'python3', reportProgress: async () => undefined });
      await new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(prepareRun, { runId: 'p1', config });
      const plan = await openStore(`file://${dir}/store`).getJson<Plan & { planned_at: string }>('runs/p1/plan.json');
      assert.equal(plan?.tokens_method, 'bytes');
      assert.deepEqual(plan?.rows, { sft: 456, preferences: 200, eval: 48 });
      assert.equal(plan?.steps, config.sft.max_steps + config.dpo.max_steps);
      assert.equal(plan?.budget_ok, true);
      assert.ok(plan?.planned_at);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('plan data figures', () => {
  it('length distribution and the share max_length truncates (DPO: either sequence)', () => {
    const s = lengthStats([[10], [20], [30], [40], [200]], 32);
    assert.deepEqual([s.min, s.p50, s.p90, s.p99, s.max], [10, 30, 200, 200, 200]);
    assert.equal(s.truncated_share, 0.4);
    assert.equal(s.mean_trained_tokens, (10 + 20 + 30 + 32 + 32) / 5);
    assert.equal(
      lengthStats(
        [
          [10, 40],
          [10, 10],
        ],
        32,
      ).truncated_share,
      0.5,
    );
  });

  it('eval prompts repeated in training compare as normalized text', () => {
    const train = [[{ role: 'user', content: 'What is  the weather in Rome?' }]];
    const r = repeatedPrompts(train, [
      { line: 1, turns: [{ role: 'user', content: 'what is the weather\nin ROME?' }] },
      { line: 2, turns: [{ role: 'user', content: 'What is the weather in Paris?' }] },
    ]);
    assert.deepEqual(r, { eval_items: 1, share: 0.5, examples: [1] });
  });

  it('parameters from a config.json: the tiny model has 1.3 M', () => {
    const n = paramsOfConfig({
      hidden_size: 256,
      num_hidden_layers: 2,
      intermediate_size: 512,
      vocab_size: 583,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 64,
      tie_word_embeddings: true,
    });
    assert.equal(n, 2 * (2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512) + 583 * 256);
  });
});

describe('price table', () => {
  const gce = (machine_type: string, cost: object = {}) => ({
    name: 'prices',
    store: 'gs://bucket/runs',
    host: { provider: 'gce', project: 'my-gpu-project', zones: ['us-central1-a'], machine_type, trainer_image: 'us-docker.pkg.dev/my-gpu-project/finetune/trainer:0.1.0' },
    model: { base: 'hf:Qwen/Qwen2.5-3B-Instruct' },
    data: { sft: 'gs://data-bucket/sft.jsonl', preferences: 'gs://data-bucket/p.jsonl', eval: 'gs://data-bucket/e.jsonl' },
    cost,
  });

  it('covers A100 40 GB, A100 80 GB, L4 and H100 machine types, each with its source and date', () => {
    for (const [type, gpu] of [
      ['a2-highgpu-1g', 'A100 40 GB'],
      ['a2-ultragpu-2g', 'A100 80 GB'],
      ['g2-standard-8', 'L4'],
      ['a3-highgpu-8g', 'H100 80 GB'],
    ]) {
      assert.doesNotThrow(() => parseConfig(gce(type)), type);
      const price = MACHINE_PRICES[type];
      assert.ok(price.spot > 0 && price.spot < price.on_demand, type);
      assert.equal(priceSource(type)?.gpu, gpu);
      assert.ok(priceSource(type)?.as_of, type);
    }
    assert.equal(priceSource('a2-highgpu-2g')?.needs_refresh, false);
    assert.equal(priceSource('a3-highgpu-8g')?.needs_refresh, true);
  });

  it('an unknown machine type is refused at validate time with the fix; cost.prices admits it', () => {
    assert.throws(
      () => parseConfig(gce('a2-megagpu-16g')),
      (err: unknown) =>
        err instanceof ConfigInvalid &&
        /cost\.prices: has no price for host\.machine_type a2-megagpu-16g .*add cost\.prices\.a2-megagpu-16g: \{ on_demand: <USD\/h>, spot: <USD\/h> \}/.test(err.message),
    );
    assert.doesNotThrow(() => parseConfig(gce('a2-megagpu-16g', { prices: { 'a2-megagpu-16g': { on_demand: 55, spot: 20 } } })));
  });
});

describe('the boot a plan counts', () => {
  it('is shorter on an image finetune image bake made: no driver install, no image pull', async () => {
    const baked = 'projects/p1/global/images/durable-finetune-trainer-v7-20261203-150000';
    const family = 'projects/p1/global/images/family/durable-finetune-trainer';
    for (const image of [baked, family]) assert.ok(isBakedImage(image), image);
    for (const image of ['projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310', 'projects/p1/global/images/durable-finetune-trainerx'])
      assert.ok(!isBakedImage(image), image);
    assert.equal(gceBootSeconds(family), 150, 'VM create and model load of the 420 s stock boot (the figures bench:gpu-share simulates)');
    assert.equal(gceBootSeconds('projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310'), GCE_BOOT_SECONDS);

    const config = loadConfigFile(path.join(projectRoot, 'examples/gcp/a100x2-spot.yaml'));
    if (config.host.provider !== 'gce') throw new Error('the GCP example has a gce host');
    const stock = await planRun(config, { tokenizer: false });
    const onBaked = await planRun({ ...config, host: { ...config.host, image: family } }, { tokenizer: false });
    assert.equal(stock.preemption.boot_s, GCE_BOOT_SECONDS);
    assert.equal(onBaked.preemption.boot_s, 150);
    assert.match(onBaked.preemption.source, /a baked host\.image/);
    assert.ok(onBaked.usd.spot! < stock.usd.spot!, 'a shorter boot bills less');
  });
});
