/** examples/tiny/run.json is examples/tiny/config.yaml as `temporal workflow start --input-file` input. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/parse';
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
