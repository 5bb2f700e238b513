/**
 * report.html in headless Chromium: the browser parses the table and the
 * inline SVG charts, and a screenshot shows them drawn (chart line colours
 * present, disagreement highlight present). The screenshot is kept in
 * test-artifacts/report.png for people to look at.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { recordGateDecision } from '../../src/eval/rescore';
import { runKey } from '../../src/jobs/contract';
import { projectRoot } from '../../src/paths';
import { chromium, countColour, decodePng } from '../support/chromium';
import { buildReportFixture, type ReportFixture } from '../support/reportFixture';

const ARTIFACTS = path.join(projectRoot, 'test-artifacts');
let f: ReportFixture;
let url: string;

before(async () => {
  f = await buildReportFixture();
  await recordGateDecision(f.store, f.runId, {
    state: 'awaiting_approval',
    candidate: 'dpo',
    promote: null,
    checks: [],
    by: null,
    note: null,
    decidedAt: null,
    waitingSince: '2026-11-28T22:41:00.000Z',
    deadline: '2026-11-29T22:41:00.000Z',
    reason: 'dpo passes every threshold; waiting for approve or reject of dpo',
  });
  url = `file://${path.join(f.dir, runKey(f.runId, 'report/report.html'))}`;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});
after(() => {
  if (f) fs.rmSync(f.dir, { recursive: true, force: true });
});

describe('report.html in headless Chromium', () => {
  it('parses into the metric table and four SVG charts with their lines', async () => {
    const dom = await chromium(url, ['--dump-dom', '--virtual-time-budget=2000']);
    const table = /<table id="metrics">([\s\S]*?)<\/table>/.exec(dom);
    assert.ok(table, 'the metric table is in the DOM');
    const rows = table[1].match(/<tr[ >]/g) ?? [];
    assert.ok(rows.length >= 14, `header plus one row per metric (got ${rows.length})`);
    assert.equal((dom.match(/<svg [^>]*class="chart"/g) ?? []).length, 4);
    assert.equal((dom.match(/<polyline class="series"/g) ?? []).length, 6);
    assert.ok((dom.match(/<article class="item"/g) ?? []).length >= 10);
  });

  it('renders a screenshot in which the charts and the highlighted disagreements are drawn', async () => {
    const file = path.join(f.dir, 'report.png');
    await chromium(url, [`--screenshot=${file}`, '--window-size=1280,2600', '--virtual-time-budget=2000']);
    const data = fs.readFileSync(file);
    // Kept by rename, so a concurrent test run never leaves half a file in test-artifacts/.
    const kept = path.join(ARTIFACTS, `.report.png.${process.pid}`);
    fs.writeFileSync(kept, data);
    fs.renameSync(kept, path.join(ARTIFACTS, 'report.png'));
    assert.ok(data.length > 50_000, `a non-trivial PNG (got ${data.length} bytes)`);
    const png = decodePng(data);
    assert.deepEqual([png.width, png.height], [1280, 2600]);
    assert.ok(countColour(png, '#2563eb', 30) > 300, 'blue chart lines are drawn');
    assert.ok(countColour(png, '#dc2626', 30) > 100, 'red chart lines are drawn');
    assert.ok(countColour(png, '#fde68a', 12) > 2000, 'disagreeing cells are highlighted');
  });
});
