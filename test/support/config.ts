import assert from 'node:assert/strict';
import { ConfigInvalid, parseConfig, type ConfigIssue } from '../../src/config/parse';
import type { PipelineConfigInput } from '../../src/config/schema';

/** The issue parseConfig(raw) reports for `field`; fails the test when it parses or names another field. */
export function configIssue(raw: object, field: string): ConfigIssue {
  try {
    parseConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigInvalid, String(err));
    const found = err.issues.find((i) => i.field === field);
    assert.ok(found, JSON.stringify(err.issues));
    return found;
  }
  assert.fail(`expected ConfigInvalid naming ${field}`);
}

/** A valid config for workflow tests; the scripted activities never read its paths. */
export function testConfig(overrides: Partial<PipelineConfigInput> = {}): PipelineConfigInput {
  return {
    name: 'wf-test',
    store: 'file:///tmp/store',
    model: { base: '/tmp/model' },
    data: { sft: '/tmp/sft.jsonl', preferences: '/tmp/prefs.jsonl', eval: '/tmp/eval.jsonl' },
    monitor: { max_host_losses: 2 },
    ...overrides,
  };
}

/** A config input whose references are all remote, so parsing it touches no file. */
export const remoteConfig = (name: string) => ({
  name,
  store: 'gs://bucket/runs',
  model: { base: 'hf:org/m' },
  data: { sft: 'a.jsonl', preferences: 'b.jsonl', eval: 'c.jsonl' },
});

/** A gce host section of this machine type. */
export const gceHost = (machine_type: string) => ({
  provider: 'gce',
  project: 'finetune-test',
  zones: ['us-central1-a'],
  machine_type,
  trainer_image: 'us-docker.pkg.dev/p/r/trainer:1',
});
