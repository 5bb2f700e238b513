/**
 * The model card rendered from the scored report fixture: Hugging Face front
 * matter, then each section the issue asks for with the run's own figures
 * (base model commit, data sha256 and rows, settings, the eval table with
 * intervals, the gate and who approved, the cost, the largest regressions).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { parseConfig } from '../../src/config/parse';
import type { GateOutcome } from '../../src/eval/gate';
import type { RunMetrics } from '../../src/eval/metrics';
import { runKey } from '../../src/jobs/contract';
import { CARD_RUN_KEY, type ModelCardInput, regressions, renderModelCard } from '../../src/report/modelCard';
import { buildReportFixture, type ReportFixture } from '../support/reportFixture';

const COMMIT = 'a'.repeat(40);
let fx: ReportFixture;
let input: ModelCardInput;

before(async () => {
  fx = await buildReportFixture();
  const metrics = (await fx.store.getJson<RunMetrics>(runKey(fx.runId, 'report/metrics.json')))!;
  const config = parseConfig({ name: 'card', store: '/tmp/s', model: { base: 'hf:tiny-org/tiny-llama' }, data: { sft: 'a.jsonl', preferences: 'b.jsonl', eval: 'c.jsonl' } });
  const gate: GateOutcome = {
    state: 'approved',
    candidate: 'dpo',
    promote: 'dpo',
    checks: [],
    by: 'alice@example.com',
    note: 'looks good',
    decidedAt: '2026-11-28T23:00:00.000Z',
    waitingSince: null,
    deadline: null,
    reason: 'dpo approved by alice@example.com',
  };
  input = {
    runId: fx.runId,
    promoted: 'dpo',
    destination: 'hf:acme/tiny-ft',
    baseModel: { ref: 'hf:tiny-org/tiny-llama', hub: { repo: 'tiny-org/tiny-llama', revision: 'main', commit: COMMIT } },
    dtype: config.model.dtype,
    data: [
      { field: 'data.sft', ref: '/data/sft.jsonl', sha256: 'b'.repeat(64), rows: 120 },
      { field: 'data.eval', ref: 'gs://bucket/eval.jsonl', sha256: 'c'.repeat(64), rows: 22 },
    ],
    training: { sft: config.sft, merge: config.merge, dpo: config.dpo },
    metrics,
    gate,
  };
});
after(() => fs.rmSync(fx.dir, { recursive: true, force: true }));

const section = (card: string, title: string): string => {
  const start = card.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `no section ${title}`);
  const end = card.indexOf('\n## ', start + 4);
  return card.slice(start, end < 0 ? undefined : end);
};

describe('model card', () => {
  it('opens with Hugging Face front matter: base_model, library, tags and the run marker', () => {
    const card = renderModelCard(input);
    const front = /^---\n([\s\S]*?)\n---\n/.exec(card)?.[1];
    assert.ok(front, card.slice(0, 200));
    assert.match(front, /^base_model: "tiny-org\/tiny-llama"$/m);
    assert.match(front, /^library_name: transformers$/m);
    assert.match(front, /^- durable-finetune$/m);
    assert.match(front, /^- dpo$/m);
    assert.match(front, new RegExp(`^${CARD_RUN_KEY}: "${fx.runId}"$`, 'm'));
  });

  it("has every section with the run's figures", () => {
    const card = renderModelCard(input);
    assert.match(section(card, 'Base model'), new RegExp(`tiny-org/tiny-llama.*${COMMIT}`));
    const data = section(card, 'Training data');
    assert.match(data, new RegExp(`data.sft: \`sft.jsonl\` \\| 120 \\| \`${'b'.repeat(64)}\``));
    assert.match(data, /data.eval: `eval.jsonl` \| 22 \|/);
    const settings = section(card, 'Training settings');
    assert.match(settings, /\*\*sft\*\*: .*learning_rate=/);
    assert.match(settings, /\*\*dpo\*\*: .*beta=/);
    const evalSection = section(card, 'Evaluation');
    const m = input.metrics;
    const iv = m.intervals!.dpo[m.primaryMetric];
    assert.ok(evalSection.includes(`| **${m.primaryMetric}** |`), evalSection);
    assert.ok(evalSection.includes(`[${(iv.lo * 100).toFixed(1)}%, ${(iv.hi * 100).toFixed(1)}%]`), evalSection);
    assert.match(section(card, 'Gate'), /approved by alice@example.com at 2026-11-28T23:00:00.000Z \("looks good"\)/);
    assert.match(section(card, 'Cost'), /Hosts: \$3\.46; of which \$0\.52 redid work after host losses \(1 lost\); budget \$10\.00; .*\$1\.25/);
  });

  it('lists the largest regressions, worst first, with intervals where the eval has them', () => {
    const found = regressions(input.metrics);
    assert.ok(found.length > 0, 'the fixture has a DPO regression (an extra argument, an unsupported claim)');
    for (let i = 1; i < found.length; i++) assert.ok(Math.abs(found[i - 1].delta) >= Math.abs(found[i].delta));
    const limits = section(renderModelCard(input), 'Limitations');
    const worst = found[0];
    assert.ok(limits.includes(`| ${worst.model} | ${worst.baseline} | ${worst.metric} | ${(worst.delta * 100).toFixed(1)} pts |`), limits);
    assert.ok(
      found.some((r) => r.model === 'dpo' && r.baseline === 'sft' && r.lo !== undefined),
      JSON.stringify(found),
    );
  });

  it('is the same bytes for the same run (so a re-promotion changes nothing)', () => {
    assert.equal(renderModelCard(input), renderModelCard(structuredClone(input)));
  });

  it('says when a base model is a folder and when nothing regressed', () => {
    const flat: RunMetrics = { ...input.metrics, deltas: [], models: { base: { x: 0.5 }, sft: { x: 0.6 } }, intervals: {} };
    const card = renderModelCard({ ...input, promoted: 'sft', baseModel: { ref: '/models/base' }, metrics: flat, gate: null });
    assert.doesNotMatch(card, /^base_model:/m);
    assert.match(section(card, 'Base model'), /`\/models\/base` \(not a Hub model/);
    assert.match(section(card, 'Limitations'), /found no metric on which a trained model scored below/);
  });
});
