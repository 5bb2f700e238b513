/**
 * The examples as a user meets them: examples/tiny/run.json is examples/tiny/config.yaml as
 * `temporal workflow start --input-file` input, and the GCP example validates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadConfigFile, resolveLocalPaths } from '../../src/config/load';
import { parseConfig } from '../../src/config/parse';
import { checkDataFiles } from '../../src/data/check';
import { projectRoot } from '../../src/paths';

describe('examples/tiny/run.json', () => {
  const json = JSON.parse(fs.readFileSync(path.join(projectRoot, 'examples/tiny/run.json'), 'utf8'));
  it('says exactly what config.yaml says', () => {
    assert.deepEqual(json, parse(fs.readFileSync(path.join(projectRoot, 'examples/tiny/config.yaml'), 'utf8')));
  });
  it('is a valid config with paths relative to the project root (prepareRun resolves them on the worker)', () => {
    const config = parseConfig(json);
    assert.equal(config.model.base, 'examples/tiny/model');
    assert.ok(fs.existsSync(path.join(projectRoot, config.data.sft)));
  });
});

describe('examples/gcp/a100x2-spot.yaml', () => {
  it('validates as `finetune validate` checks it: schema, references, and its gs:// data left for the run start', async () => {
    const config = resolveLocalPaths(loadConfigFile(path.join(projectRoot, 'examples/gcp/a100x2-spot.yaml')), projectRoot);
    assert.equal(config.host.provider, 'gce');
    assert.equal(config.store, 'gs://my-finetune-runs/durable-finetune');
    assert.equal(config.model.base, 'hf:Qwen/Qwen2.5-3B-Instruct');
    const data = await checkDataFiles(config.data, { remote: false });
    assert.deepEqual(data, { checked: [], skipped: Object.values(config.data) });
  });
});
