import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { GateOutcome } from '../../src/eval/gate';
import type { RunMetrics } from '../../src/eval/metrics';
import { recordGateDecision, rescoreRun } from '../../src/eval/rescore';
import { runKey } from '../../src/jobs/contract';
import { tensorboardCommand, tensorboardLink } from '../../src/report/data';
import { buildReportFixture, type ReportFixture } from '../support/reportFixture';

let f: ReportFixture;
let html: string;
let metrics: RunMetrics;

const gate: GateOutcome = {
  state: 'approved',
  candidate: 'dpo',
  promote: 'dpo',
  checks: [{ model: 'dpo', metric: 'tool_call_match', kind: 'regression', value: 0.92, bound: 0.7, passed: true, text: 'dpo tool_call_match 91.7% >= sft 75.0% - 5.0%' }],
  by: 'alice',
  note: 'read the regressions <and> the disagreements',
  decidedAt: '2026-11-29T09:00:00.000Z',
  waitingSince: '2026-11-28T22:41:00.000Z',
  deadline: '2026-11-29T22:41:00.000Z',
  reason: 'dpo approved by alice',
};

before(async () => {
  f = await buildReportFixture();
  await recordGateDecision(f.store, f.runId, gate);
  html = (await f.store.getBytes(runKey(f.runId, 'report/report.html')))!.toString('utf8');
  metrics = (await f.store.getJson<RunMetrics>(runKey(f.runId, 'report/metrics.json')))!;
});
after(() => {
  if (f) fs.rmSync(f.dir, { recursive: true, force: true });
});

describe('metrics.json and report.html of a scored run', () => {
  it('metrics.json carries intervals, paired deltas and the flagged disagreements', () => {
    assert.equal(metrics.n, 22);
    assert.equal(metrics.models.base.citation_presence, 1);
    assert.equal(metrics.models.base.citation_precision, 0);
    assert.ok(metrics.models.dpo.citation_precision > 0.8);
    const ci = metrics.intervals!.sft.tool_call_match;
    assert.ok(ci.lo <= metrics.models.sft.tool_call_match && metrics.models.sft.tool_call_match <= ci.hi);
    assert.ok(metrics.deltas!.some((d) => d.model === 'dpo' && d.baseline === 'sft' && d.metric === 'tool_call_match'));
    const flagged = metrics.disagreements!.map((d) => `${d.model}:${d.metric}`);
    assert.ok(flagged.includes('base:citation_presence'), 'markers present vs markers that hold up');
    assert.ok(flagged.includes('sft:answer_exact'), 'exact vs normalised answers');
    assert.ok(flagged.includes('sft:tool_call_match'), 'strict vs lenient call parsing');
    assert.match(metrics.report!.html, /^file:\/\/.*\/runs\/report-fixture-1\/report\/report\.html$/);
  });

  it('is self-contained: no scripts, no external assets', () => {
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i);
  });

  it('shows the metric table with intervals and deltas, disagreements highlighted', () => {
    assert.match(html, /<table id="metrics">/);
    assert.match(html, /<th>base<\/th><th>sft<\/th><th>dpo<\/th><th>sft − base<\/th><th>dpo − sft<\/th>/);
    assert.match(html, /★ tool_call_match/);
    assert.match(html, /<span class="ci">\[\d+\.\d%, \d+\.\d%\]<\/span>/);
    assert.ok((html.match(/<td class="disagree">/g) ?? []).length >= 4);
    assert.match(html, /citation_presence 100\.0% vs citation_precision 0\.0%: <b>100\.0 points<\/b> apart/);
  });

  it('draws the SFT and DPO loss curves and the DPO reward curves as inline SVG', () => {
    for (const id of ['sft-loss', 'dpo-loss', 'dpo-rewards', 'dpo-accuracy']) assert.match(html, new RegExp(`<svg [^>]*data-chart="${id}"`));
    assert.equal((html.match(/<polyline class="series"/g) ?? []).length, 6);
    assert.match(html, /data-series="margins"/);
  });

  it("links the run's TensorBoard folder, names its lineages and gives the command that opens it", () => {
    const line = /<p id="tensorboard">(.*?)<\/p>/s.exec(html)?.[1] ?? '';
    assert.match(line, /<code>dpo<\/code>, <code>dpo\.r2<\/code>, <code>sft<\/code>/);
    assert.match(line, new RegExp(`<a href="\\.\\./tensorboard/">runs/${f.runId}/tensorboard/</a>`));
    assert.ok(line.includes(`<code>tensorboard --logdir ${f.dir}/runs/${f.runId}/tensorboard</code>`), line);
    // The link resolves from report.html's folder to the folder the stages wrote.
    assert.ok(fs.existsSync(`${f.dir}/runs/${f.runId}/report/../tensorboard/dpo.r2`));
  });

  it('gives the TensorBoard command for a bucket, and quotes a local folder a shell would split', () => {
    assert.equal(tensorboardCommand('gs://bkt/pre', 'r-1'), 'tensorboard --logdir gs://bkt/pre/runs/r-1/tensorboard');
    assert.equal(tensorboardCommand('file:///tmp/my%20store', 'r-1'), "tensorboard --logdir '/tmp/my store/runs/r-1/tensorboard'");
    assert.equal(tensorboardLink('gs://bkt', 'r-1', ['runs/r-1/stages/sft/status.json']), null, 'no event files, no link');
  });

  it('puts real outputs side by side: regressions, disagreements, random items', () => {
    for (const group of ['regression', 'disagreement', 'random']) assert.match(html, new RegExp(`data-group="${group}"`));
    assert.match(html, /Paris is famous for its cafes and long summer evenings \[1\]/);
    assert.match(html, /It is made of pure gold \[3\]/);
    assert.match(html, /cites source\(s\) that were not given: \[3\]/);
    assert.match(html, /unknown argument\(s\) arguments\.extra/);
  });

  it('shows the run time, host losses and the gate decision, escaped', () => {
    assert.match(html, /<span class="v" id="host-losses">1<\/span>/);
    assert.match(html, /<span class="v" id="cost">\$3\.46 of \$10<\/span>/);
    assert.match(html, /of it wasted<\/span><span class="v">\$0\.52</);
    assert.match(
      html,
      /id="cost-split">boot \$0\.31 · productive \$2\.63 · redone \$0\.40 · idle \$0\.08 · failed \$0\.04 \(1 provision whose agent never started; 1 provision that got no VM: \$0; 420 s waiting for capacity with no VM: \$0\)</,
    );
    assert.match(html, /managed service<\/span><span class="v">\$1\.25</);
    assert.match(html, /<td>sft<\/td><td>succeeded<\/td><td class="num">6 min 52 s<\/td><td class="num">2<\/td>/);
    assert.match(html, /<b>approved<\/b> · promotes <b>dpo<\/b>/);
    assert.match(html, /decided by <b>alice<\/b>.*read the regressions &lt;and&gt; the disagreements/);
  });

  it('rescoreRun recomputes the same metrics from the stored generations and keeps the gate decision', async () => {
    const { metrics: again, reportUri } = await rescoreRun(f.store.uri, f.runId);
    assert.deepEqual(again, metrics);
    assert.equal(reportUri, metrics.report!.html);
    const rerendered = (await f.store.getBytes(runKey(f.runId, 'report/report.html')))!.toString('utf8');
    assert.match(rerendered, /decided by <b>alice<\/b>/);
  });

  it('rescoreRun works for a run that was never scored, from its run.json config', async () => {
    await f.store.deletePrefix(runKey(f.runId, 'report'));
    const { metrics: fresh } = await rescoreRun(f.store.uri, f.runId);
    assert.deepEqual(fresh.models, metrics.models);
    assert.ok(await f.store.exists(runKey(f.runId, 'report/report.html')));
  });
});

describe('report.html escaping', () => {
  it('escapes markup in outputs and replaces control characters', async () => {
    const { renderReportHtml } = await import('../../src/report/html');
    const page = renderReportHtml({
      runId: 'r',
      generatedAt: '2026-11-28T22:00:00.000Z',
      metrics: { primaryMetric: 'answer_exact', n: 1, models: { sft: { answer_exact: 0 } } },
      items: [{ id: 'q1', cluster: 'c', messages: [{ role: 'user', content: 'q' }], reference: 'a' }],
      perItem: { sft: [{ itemId: 'q1', cluster: 'c', output: '<script>alert(1)</script>\u0001', scores: { answer_exact: 0 }, notes: [] }] },
      curves: { sft: [], dpo: [] },
      run: null,
      stages: [],
      gate: null,
    });
    assert.doesNotMatch(page, /<script>/);
    assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;\ufffd/);
    assert.doesNotMatch(page, /[\u0000-\u0008]/);
    assert.match(page, /no data logged/);
  });
});
