/**
 * The whole pipeline on a model that is not the example's Llama: a tiny
 * random Qwen3 with untied embeddings and Qwen3's real chat template
 * (`python -m durable_finetune.tiny_model --family qwen3`), given as
 * model.base like a user's local model folder. Real parts throughout: dev
 * server, worker, local host, the Python stages, scoring and the report.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startRun } from '../../src/client/runs';
import type { StageStatusFile } from '../../src/jobs/contract';
import { projectRoot } from '../../src/paths';
import { openStore } from '../../src/store/open';
import type { PipelineResult } from '../../workflows/pipeline';
import { fastConfig, startHarness, type Harness } from '../support/integration';
import { scratchDir } from '../support/scratch';

let h: Harness;
let result: PipelineResult;
const taskQueue = 'it-families';

const modelDir = scratchDir('finetune-qwen3-tiny-');

before(async () => {
  // The model is built while the dev server starts: a user's local model folder, made by the trainer's builder.
  const built = promisify(execFile)(path.join(projectRoot, '.venv/bin/python'), ['-m', 'durable_finetune.tiny_model', '--family', 'qwen3', '--out', modelDir], {
    env: { ...process.env, PYTHONPATH: path.join(projectRoot, 'trainer') },
  });
  h = await startHarness('families');
  await built;
  const config = fastConfig(h.dir, {
    model: { base: modelDir },
    data: { sft: head('sft.jsonl', 32), preferences: head('preferences.jsonl', 16), eval: head('eval.jsonl', 8) },
    sft: { max_steps: 4, save_steps: 2, batch_size: 8, max_length: 256 },
    dpo: { max_steps: 2, save_steps: 2, batch_size: 8, max_length: 256, probe_items: 4 },
    generate: { max_new_tokens: 8, batch_size: 8 },
  });
  const { worker } = await h.worker(taskQueue);
  const handle = await startRun(h.client, config, { taskQueue, runId: 'it-families-1' });
  result = await worker.runUntil(handle.result());
});
/** The first n rows of an example data file, as a file of their own (fewer rows: a shorter run). */
function head(name: string, n: number): string {
  const rows = fs
    .readFileSync(path.join(projectRoot, 'examples/tiny/data', name), 'utf8')
    .split('\n')
    .slice(0, n);
  const file = path.join(h.dir, name);
  fs.writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

after(async () => {
  await h?.close();
  fs.rmSync(modelDir, { recursive: true, force: true });
});

describe('the pipeline on a tiny Qwen3 (untied embeddings, its own chat template)', () => {
  const status = (stage: string) => openStore(result.storeUri).getJson<StageStatusFile>(`runs/${result.runId}/stages/${stage}/status.json`);

  it('trains LoRA on every Qwen3 projection, merges and runs DPO', async () => {
    const sft = await status('sft');
    assert.equal(sft?.state, 'succeeded');
    assert.equal(sft?.metrics.family, 'qwen3');
    assert.deepEqual(sft?.metrics.lora_targets, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    assert.equal(sft?.metrics.lora_modules, 14, '7 projections in each of 2 layers');
    assert.equal((await status('merge'))?.state, 'succeeded');
    assert.equal((await status('dpo'))?.state, 'succeeded');
  });

  it('generates for base, SFT and DPO in the model dtype and reports tokens/s', async () => {
    const gen = await status('generate');
    assert.equal(gen?.state, 'succeeded');
    const m = gen!.metrics as { dtype: string; families: Record<string, string>; tokens_per_s: Record<string, number> };
    assert.equal(m.dtype, 'float32', 'the config asks float32; bf16 would take effect on CUDA only');
    assert.deepEqual(m.families, { base: 'qwen3', sft: 'qwen3', dpo: 'qwen3' });
    for (const name of ['base', 'sft', 'dpo']) assert.ok(m.tokens_per_s[name] > 0, name);
  });

  it('scores the generations and writes the report', async () => {
    assert.ok(['sft', 'dpo'].includes(result.promoted.model));
    const keys = await openStore(result.storeUri).list(`runs/${result.runId}/report/`);
    assert.ok(
      keys.some((k) => k.endsWith('report/metrics.json')),
      keys.join(', '),
    );
    assert.ok(
      keys.some((k) => k.endsWith('report/report.html')),
      keys.join(', '),
    );
  });
});
