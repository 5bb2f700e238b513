import type { PipelineConfigInput } from '../../src/config/schema';

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
