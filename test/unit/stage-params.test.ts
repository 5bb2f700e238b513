/**
 * The stage params contract: contract/stage-params.schema.json is what src/config/stageParams.ts
 * generates (the trainer's typed params are checked against that file in
 * trainer/tests/test_stage_params.py), and the config's sections make complete stage params.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { StageParams, stageParamsProblems, withCurrentKnobs } from '../../src/config/stageParams';
import type { StageName } from '../../src/jobs/contract';
import { STAGE_PARAMS_FILE, stageParamsFileText } from '../../src/config/stageParamsFile';
import { projectRoot } from '../../src/paths';

describe('contract/stage-params.schema.json', () => {
  it('is what src/config/stageParams.ts generates', () => {
    assert.equal(fs.readFileSync(STAGE_PARAMS_FILE, 'utf8'), stageParamsFileText(), 'stale: run npm run build && node dist/src/config/stageParamsFile.js, and commit the file');
  });

  it('names every knob as required, with the config default where there is one', () => {
    const { stages } = JSON.parse(stageParamsFileText()) as { stages: Record<string, { properties: Record<string, { default?: unknown }>; required: string[] }> };
    assert.deepEqual(Object.keys(stages), ['preflight', 'sft', 'merge', 'dpo', 'generate']);
    for (const [stage, schema] of Object.entries(stages)) {
      const optional = Object.keys(schema.properties).filter((knob) => !schema.required.includes(knob));
      assert.deepEqual(optional, stage === 'sft' || stage === 'dpo' ? ['tracking'] : [], stage);
    }
    assert.equal(stages.dpo.properties.sft_loss_weight.default, 0.2);
    assert.equal(stages.sft.properties.seed.default, 42);
  });
});

describe('the tiny example as stage params', () => {
  const c = loadConfigFile(path.join(projectRoot, 'examples/tiny/config.yaml'));
  const dtype = c.model.dtype;
  // As workflows/pipeline.ts and workflows/dpo.ts put them together.
  const { max_attempts: _attempts, retry_schedule: _schedule, ...dpo } = c.dpo;
  const sent: Record<StageName, Record<string, unknown>> = {
    preflight: { ...c.preflight, expected_gpus: null, dtype },
    sft: { ...c.sft, dtype },
    merge: { ...c.merge, dtype },
    dpo: { ...dpo, dtype },
    generate: { ...c.generate, dtype, models: { base: 'runs/r/inputs/base-model' } },
  };
  const params = {
    preflight: StageParams.preflight.parse(sent.preflight),
    sft: StageParams.sft.parse(sent.sft),
    merge: StageParams.merge.parse(sent.merge),
    dpo: StageParams.dpo.parse(sent.dpo),
    generate: StageParams.generate.parse(sent.generate),
  };

  it('gives every knob of every stage from the config alone', () => {
    for (const [stage, p] of Object.entries(sent)) assert.deepEqual(stageParamsProblems(stage as StageName, p), [], stage);
    assert.deepEqual(stageParamsProblems('merge', { dtype }), ['merge.tolerance is missing', 'merge.continuity_tolerance is missing']);
    assert.deepEqual(stageParamsProblems('merge', { ...params.merge, debug_inject: 'oom', tolerance: -1, extra: 1 }), [
      'merge.tolerance: Too small: expected number to be >0',
      'merge: Unrecognized key: "extra"',
    ]);
  });

  it('keeps the values the trainer used when these knobs were its own fallbacks', () => {
    assert.equal(params.sft.noop_check_steps, 3);
    assert.equal(params.dpo.noop_check_steps, 3);
    assert.equal(params.dpo.probe_max_new_tokens, 48);
    assert.equal(params.dpo.continuity_tolerance, 'auto', '1e-3 in float32, as before');
    assert.equal(params.merge.continuity_tolerance, 'auto');
    assert.equal(params.merge.tolerance, 1e-3);
    assert.deepEqual([params.sft.seed, params.dpo.seed, params.generate.seed], [0, 0, 0]);
    assert.equal(params.dpo.sft_loss_weight, 0.2);
  });

  it("fills the knobs a run's older config lacks with today's defaults, and nothing else", () => {
    // A run resolved before noop_check_steps and probe_max_new_tokens existed.
    const { noop_check_steps: _n, probe_max_new_tokens: _p, ...older } = params.dpo;
    const filled = withCurrentKnobs('dpo', { ...older, beta: 0.5, debug_inject: 'oom' });
    assert.deepEqual(filled.added, ['noop_check_steps', 'probe_max_new_tokens']);
    assert.equal(filled.params.noop_check_steps, 3);
    assert.equal(filled.params.beta, 0.5, 'a knob the job has is kept');
    assert.equal(filled.params.debug_inject, 'oom');
    assert.deepEqual(stageParamsProblems('dpo', filled.params), []);
    assert.deepEqual(withCurrentKnobs('sft', params.sft).added, [], 'a current job is posted as it is');
    assert.ok(!('tracking' in withCurrentKnobs('sft', {}).params), 'an optional section without a default stays absent');
  });
});
