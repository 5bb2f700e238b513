/**
 * The store contract: contract/store.schema.json is what src/jobs/contract.ts generates (the
 * trainer checks its types and what it writes against that file: trainer/tests/test_contract.py,
 * test_fixtures.py), and every example in test/fixtures/store/ is a valid file of its kind whose
 * values read back as written (trainer/tests/test_fixtures.py reads the same examples).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STORE_FILES, agentKey, jobKey, stageKey, type StageStatusFile } from '../../src/jobs/contract';
import { STORE_SCHEMA_FILE, storeSchemaFileText } from '../../src/jobs/contractFile';
import { projectRoot } from '../../src/paths';

const FIXTURES = path.join(projectRoot, 'test', 'fixtures', 'store');
const fixture = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const index = (fixture('files.json') as { files: Record<string, keyof typeof STORE_FILES> }).files;
const parsed = (name: string) => STORE_FILES[index[name]].schema.parse(fixture(name));

describe('contract/store.schema.json', () => {
  it('is what src/jobs/contract.ts generates', () => {
    assert.equal(fs.readFileSync(STORE_SCHEMA_FILE, 'utf8'), storeSchemaFileText(), 'stale: run npm run build && node dist/src/jobs/contractFile.js, and commit the file');
  });

  it("names each file's key as the key functions make it", () => {
    const files = (JSON.parse(storeSchemaFileText()) as { files: Record<string, { key: string }> }).files;
    const fill = (template: string, ids: Record<string, string>) => template.replace(/\{([a-z_]+)\}/g, (_, id: string) => ids[id]);
    const ids = { run_id: 'r1', host_id: 'r1-h1', stage: 'sft', step: '25', job_id: 'sft-1', stage_pid: '1240' };
    assert.equal(fill(files.job.key, ids), jobKey('r1', 'r1-h1'));
    assert.equal(fill(files.agent.key, ids), agentKey('r1', 'r1-h1'));
    assert.equal(fill(files.progress.key, ids), stageKey('r1', 'sft', 'progress.json'));
    assert.equal(fill(files.status.key, ids), stageKey('r1', 'sft', 'status.json'));
    assert.equal(fill(files.committed.key, ids), stageKey('r1', 'sft', 'checkpoints/checkpoint-25/COMMITTED.json'));
    assert.equal(fill(files.start.key, ids), stageKey('r1', 'sft', 'starts/sft-1/r1-h1-1240.json'));
  });
});

describe('test/fixtures/store', () => {
  it('holds an example of every file, each valid and read back value for value', () => {
    assert.deepEqual(new Set(Object.values(index)), new Set(Object.keys(STORE_FILES)));
    for (const name of Object.keys(index)) assert.deepEqual(parsed(name), fixture(name), name);
  });

  it('has the values the trainer writes (trainer/tests/test_fixtures.py checks the same)', () => {
    const job = STORE_FILES.job.schema.parse(fixture('job.json'));
    assert.equal(job.job_id, 'sft-1');
    assert.deepEqual(job.params.lora, { r: 32, alpha: 64, dropout: 0.0, target_modules: 'all-linear' });
    const agent = STORE_FILES.agent.schema.parse(fixture('agent.json'));
    assert.deepEqual([agent.state, agent.job_id, agent.stage_pid, agent.job_started_at], ['running', 'sft-1', 1240, '2026-11-28T22:00:01.000Z']);
    const progress = STORE_FILES.progress.schema.parse(fixture('progress.json'));
    const { step: _step, loss: lastLoss, ...lastMetrics } = progress.history.at(-1)!;
    assert.deepEqual([progress.step, progress.loss, lastMetrics], [2, lastLoss, progress.metrics], 'metrics are the last logged step');
    const status: StageStatusFile = STORE_FILES.status.schema.parse(fixture('status.json'));
    assert.deepEqual([status.state, status.steps_done, status.duration_s, status.output?.probe], ['succeeded', 250, 38.553, undefined]);
    const failed = STORE_FILES.status.schema.parse(fixture('status-failed.json'));
    assert.deepEqual([failed.failure_class, failed.signal, failed.steps_done, failed.resumed_from_step, failed.output], ['killed', 'SIGKILL', null, null, null]);
    const dpo = STORE_FILES.status.schema.parse(fixture('status-dpo.json'));
    assert.equal(dpo.output?.adapter_key, 'runs/demo-20261128-1/stages/dpo/output/adapter');
    assert.deepEqual(dpo.output?.probe?.top[0][0], [151643, 18.5]);
    const committed = STORE_FILES.committed.schema.parse(fixture('COMMITTED.json'));
    assert.deepEqual(
      committed.files.map((f) => [f.path, f.size]),
      [
        ['adapter_config.json', 49],
        ['adapter_model.safetensors', 2048],
      ],
    );
    const start = STORE_FILES.start.schema.parse(fixture('start.json'));
    assert.deepEqual([start.job_id, start.stage_pid], ['sft-1', 1240]);
  });

  it('refuses a file with a key the contract lacks, or one missing', () => {
    const status = fixture('status.json') as Record<string, unknown>;
    assert.throws(() => STORE_FILES.status.schema.parse({ ...status, extra: 1 }), /unrecognized_keys[\s\S]*"extra"/);
    const { duration_s: _d, ...noDuration } = status;
    assert.throws(() => STORE_FILES.status.schema.parse(noDuration), /duration_s/);
  });
});
