/**
 * report.html: one self-contained page (no scripts, fonts or images from
 * anywhere; charts are inline SVG) that a person reads before a model ships:
 * the gate's decision, the run's time and host losses, the metric table with
 * intervals and paired deltas, disagreements highlighted, training curves,
 * and real outputs side by side.
 */
import { METHOD_PAIRS, METRICS, higherIsBetter, isMetricName } from '../eval/metricInfo';
import type { Interval } from '../eval/bootstrap';
import type { ItemResult } from '../eval/score';
import type { ProgressPoint } from '../jobs/contract';
import { pickItems, type PickedItem, type ReportData } from './data';
import { hasBuckets, splitLine } from '../cost/ledger';

const MODEL_ORDER = ['base', 'sft', 'dpo'];
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];

export function renderReportHtml(data: ReportData): string {
  const models = Object.keys(data.metrics.models).sort((a, b) => rank(MODEL_ORDER, a) - rank(MODEL_ORDER, b) || a.localeCompare(b));
  const seed = data.metrics.method?.bootstrap.seed ?? 0;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eval report: ${esc(data.runId)}</title>
<style>${CSS}</style></head>
<body>
<header><h1>Eval report <code>${esc(data.runId)}</code></h1>
<p class="muted">generated ${esc(data.generatedAt)} · ${data.metrics.n} eval items · primary metric <b>${esc(data.metrics.primaryMetric)}</b></p>
${baseModelLine(data)}</header>
${gateSection(data)}
${runSection(data)}
${metricsSection(data, models)}
${chartsSection(data)}
${itemsSection(data, models, seed)}
${methodSection(data)}
</body></html>
`;
}

/** Which bytes the run started from: for an hf: model, the repo at the commit its revision named then. */
function baseModelLine(data: ReportData): string {
  const b = data.baseModel;
  if (!b) return '';
  if (!b.hub) return `<p id="base-model">base model <code>${esc(b.ref)}</code></p>`;
  return `<p id="base-model">base model <code>${esc(`${b.hub.repo}@${b.hub.commit}`)}</code> <span class="muted">(hf:${esc(b.hub.repo)}, revision ${esc(b.hub.revision)})</span></p>`;
}

function gateSection(data: ReportData): string {
  const g = data.gate;
  if (!g) return `<section id="gate"><h2>Gate</h2><p class="muted">No gate decision yet: the workflow decides after scoring.</p></section>`;
  const tone = g.promote ? 'good' : g.state === 'awaiting_approval' ? 'wait' : 'bad';
  const checks = g.checks.length
    ? `<table class="checks"><thead><tr><th>check</th><th>result</th></tr></thead><tbody>${g.checks
        .map((c) => `<tr class="${c.passed ? '' : 'fail'}"><td>${esc(c.text)}</td><td>${c.passed ? 'pass' : 'FAIL'}</td></tr>`)
        .join('')}</tbody></table>`
    : '';
  const who = g.by ? `<p>decided by <b>${esc(g.by)}</b>${g.decidedAt ? ` at ${esc(g.decidedAt)}` : ''}${g.note ? `: <q>${esc(g.note)}</q>` : ''}</p>` : '';
  const waiting = g.state === 'awaiting_approval' ? `<p>waiting since ${esc(g.waitingSince ?? '')}, until ${esc(g.deadline ?? '')}</p>` : '';
  return `<section id="gate"><h2>Gate</h2>
<div class="banner ${tone}"><b>${esc(g.state.replace(/_/g, ' '))}</b> · ${g.promote ? `promotes <b>${esc(g.promote)}</b>` : 'nothing promoted'}<br>${esc(g.reason)}</div>
${who}${waiting}${checks}</section>`;
}

function runSection(data: ReportData): string {
  const r = data.run;
  const rows = data.stages.map((s) => {
    const attempts = r?.stages[s.stage]?.attempts ?? Number(/-(\d+)$/.exec(s.jobId)?.[1] ?? 1);
    return `<tr><td>${esc(s.stage)}</td><td>${esc(s.state)}</td><td class="num">${s.seconds === null ? '-' : duration(s.seconds)}</td><td class="num">${attempts}</td></tr>`;
  });
  // Without the workflow's summary (a rescore of an older run), the stages' own times bound the run.
  const lastFinish = data.stages
    .map((s) => s.finishedAt)
    .filter((t): t is string => t !== null)
    .sort()
    .at(-1);
  const total = r ? elapsed(r.startedAt, data.generatedAt) : data.stages[0]?.startedAt && lastFinish ? elapsed(data.stages[0].startedAt, lastFinish) : null;
  const losses = r ? r.hostLosses : data.stages.reduce((n, s) => n + Math.max(0, Number(/-(\d+)$/.exec(s.jobId)?.[1] ?? 1) - 1), 0);
  return `<section id="run"><h2>Run</h2>
<div class="facts">
<div><span class="k">time to scoring</span><span class="v">${total === null ? '-' : duration(total)}</span></div>
<div><span class="k">host losses</span><span class="v" id="host-losses">${losses}</span></div>
<div><span class="k">steps redone</span><span class="v">${r ? r.stepsRedone : '-'}</span></div>
${
  r?.cost
    ? `<div><span class="k">cost</span><span class="v" id="cost">$${r.cost.spentUsd.toFixed(2)}${r.cost.budgetUsd === null ? '' : ` of $${r.cost.budgetUsd}`}</span></div>
<div><span class="k">of it wasted</span><span class="v">$${r.cost.wastedUsd.toFixed(2)}</span></div>${
        r.cost.split && hasBuckets(r.cost.split)
          ? `
<div><span class="k">billed, insert to delete</span><span class="v small" id="cost-split">${esc(splitLine(r.cost.split))}</span></div>`
          : ''
      }${
        r.cost.managedUsd === null
          ? ''
          : `
<div><span class="k">managed service</span><span class="v">$${r.cost.managedUsd.toFixed(2)}</span></div>`
      }`
    : ''
}
<div><span class="k">started</span><span class="v small">${esc(r?.startedAt ?? data.stages[0]?.startedAt ?? '-')}</span></div>
</div>
${rows.length ? `<table><thead><tr><th>stage</th><th>state</th><th>time</th><th>attempts</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : ''}
</section>`;
}

function metricsSection(data: ReportData, models: string[]): string {
  const m = data.metrics;
  const metrics = [...new Set(models.flatMap((x) => Object.keys(m.models[x])))].sort((a, b) => metricRank(a) - metricRank(b) || a.localeCompare(b));
  const comparisons = (m.deltas ?? []).reduce<string[]>((acc, d) => (acc.includes(`${d.model}|${d.baseline}`) ? acc : [...acc, `${d.model}|${d.baseline}`]), []);
  const flagged = new Set((m.disagreements ?? []).flatMap((d) => [`${d.model}|${d.metric}`, `${d.model}|${d.other}`]));
  const head = `<tr><th>metric</th>${models.map((x) => `<th>${esc(x)}</th>`).join('')}${comparisons
    .map((c) => `<th>${esc(c.split('|')[0])} − ${esc(c.split('|')[1])}</th>`)
    .join('')}</tr>`;
  const body = metrics.map((metric) => {
    const rowFlag = models.some((x) => flagged.has(`${x}|${metric}`));
    const cells = models.map((x) => {
      const v = m.models[x][metric];
      const ci = m.intervals?.[x]?.[metric];
      const cls = flagged.has(`${x}|${metric}`) ? ' class="disagree"' : '';
      return `<td${cls}>${v === undefined ? '-' : `<span class="v">${pct(v)}</span>${ci ? ` <span class="ci">[${pct(ci.lo)}, ${pct(ci.hi)}]</span>` : ''}`}</td>`;
    });
    const deltas = comparisons.map((c) => {
      const [model, baseline] = c.split('|');
      const d = m.deltas?.find((x) => x.model === model && x.baseline === baseline && x.metric === metric);
      return `<td>${d ? deltaCell(d, metric) : '-'}</td>`;
    });
    const label = `${metric === m.primaryMetric ? '★ ' : ''}${esc(metric)}${higherIsBetter(metric) ? '' : ' <span class="muted">(lower is better)</span>'}`;
    const title = isMetricName(metric) ? ` title="${esc(METRICS[metric].description)}"` : '';
    return `<tr class="${rowFlag ? 'flag' : ''}${metric === m.primaryMetric ? ' primary' : ''}"><th scope="row"${title}>${label}</th>${cells.join('')}${deltas.join('')}</tr>`;
  });
  const disagreements = (m.disagreements ?? []).map(
    (d) =>
      `<li><b>${esc(d.model)}</b>: ${esc(d.metric)} ${pct(d.a)} vs ${esc(d.other)} ${pct(d.b)}: <b>${d.points.toFixed(1)} points</b> apart (${esc(d.what)}), on ${d.items.length} item(s)</li>`,
  );
  const threshold = m.method?.disagreementPoints ?? 10;
  return `<section id="metrics-section"><h2>Metrics</h2>
<p class="muted">Mean over the items each metric applies to, with 95% bootstrap intervals resampled by cluster; deltas are paired on the same items (points).</p>
<table id="metrics"><thead>${head}</thead><tbody>${body.join('')}</tbody></table>
<h3>Disagreements</h3>
${
  disagreements.length
    ? `<div class="banner bad" id="disagreements"><p>Two methods of one metric differ by more than ${threshold} points: read the outputs below before trusting either number.</p><ul>${disagreements.join('')}</ul></div>`
    : `<p id="disagreements" class="muted">No two methods of a metric differ by more than ${threshold} points.</p>`
}</section>`;
}

function deltaCell(d: Interval & { metric: string }, metric: string): string {
  const up = higherIsBetter(metric);
  const better = up ? d.lo > 0 : d.hi < 0;
  const worse = up ? d.hi < 0 : d.lo > 0;
  const cls = better ? 'up' : worse ? 'down' : 'flat';
  const pts = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`;
  return `<span class="delta ${cls}">${pts(d.mean)}</span> <span class="ci">[${pts(d.lo)}, ${pts(d.hi)}]</span>`;
}

function chartsSection(data: ReportData): string {
  const series = (points: ProgressPoint[], key: string) => points.filter((p) => typeof p[key] === 'number').map((p) => ({ x: p.step, y: p[key] as number }));
  const rewards = ['rewards/chosen', 'rewards/rejected', 'rewards/margins'].map((k) => ({ name: k.replace('rewards/', ''), points: series(data.curves.dpo, k) }));
  return `<section id="charts"><h2>Training</h2><div class="charts">
${lineChart('sft-loss', 'SFT loss', [{ name: 'loss', points: series(data.curves.sft, 'loss') }])}
${lineChart('dpo-loss', 'DPO loss', [{ name: 'loss', points: series(data.curves.dpo, 'loss') }])}
${lineChart('dpo-rewards', 'DPO rewards', rewards)}
${lineChart('dpo-accuracy', 'DPO reward accuracy', [{ name: 'accuracies', points: series(data.curves.dpo, 'rewards/accuracies') }])}
</div>${tensorboardLine(data)}</section>`;
}

/** Every logged step of every training lineage, in TensorBoard: the folder, and the command that opens it. */
function tensorboardLine(data: ReportData): string {
  const tb = data.tensorboard;
  if (!tb) return '';
  return `
<p id="tensorboard">Every logged step (loss, learning rate, grad norm, tokens/s, DPO rewards and margins) of ${tb.runs.map((r) => `<code>${esc(r)}</code>`).join(', ')} in TensorBoard: <a href="${esc(tb.href)}">runs/${esc(data.runId)}/tensorboard/</a> · <code>${esc(tb.command)}</code></p>`;
}

interface Series {
  name: string;
  points: { x: number; y: number }[];
}

/** A line chart as inline SVG: axes with rounded ticks, one polyline per series, a legend. */
export function lineChart(id: string, title: string, series: Series[]): string {
  const W = 520;
  const H = 260;
  const L = 56;
  const R = 14;
  const T = 30;
  const B = 40;
  const all = series.flatMap((s) => s.points);
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-${esc(id)}" data-chart="${esc(id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="18" class="title">${esc(title)}</text>`;
  if (all.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">no data logged</text></svg>`;
  const [x0, x1] = extent(all.map((p) => p.x));
  const [y0, y1] = niceExtent(all.map((p) => p.y));
  const sx = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - T - B);
  const yTicks = ticks(y0, y1, 5);
  const xTicks = ticks(x0, x1, 6).filter((x) => Number.isInteger(x));
  const grid = yTicks
    .map(
      (y) =>
        `<line x1="${L}" x2="${W - R}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" class="grid"/><text x="${L - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" class="tick">${fmtTick(y)}</text>`,
    )
    .join('');
  const xs = xTicks.map((x) => `<text x="${sx(x).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" class="tick">${x}</text>`).join('');
  const lines = series
    .filter((s) => s.points.length > 0)
    .map((s, i) => {
      const pts = s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
      const dot = s.points.length === 1 ? `<circle cx="${sx(s.points[0].x)}" cy="${sy(s.points[0].y)}" r="3" fill="${COLORS[i % COLORS.length]}"/>` : '';
      return `<polyline class="series" data-series="${esc(s.name)}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.8" points="${pts}"/>${dot}`;
    })
    .join('');
  // One row in the title line, right-aligned, so it never covers a line.
  let lx = W - R - series.reduce((w, s) => w + 18 + 7 * s.name.length, 0);
  const legend = series
    .map((s, i) => {
      const at = lx;
      lx += 18 + 7 * s.name.length;
      return `<rect x="${at}" y="9" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${at + 14}" y="18" class="tick">${esc(s.name)}</text>`;
    })
    .join('');
  const axes = `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" class="axis"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" class="axis"/><text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle" class="tick">step</text>`;
  return `${head}${grid}${axes}${xs}${lines}${series.length > 1 ? legend : ''}</svg>`;
}

function itemsSection(data: ReportData, models: string[], seed: number): string {
  const picks = pickItems(data, 5, seed);
  const byId = new Map(data.items.map((i, idx) => [i.id, idx]));
  const group = (id: string, title: string, picked: PickedItem[], empty: string) =>
    `<h3>${esc(title)}</h3>${picked.length ? picked.map((p) => itemCard(data, models, byId.get(p.itemId)!, p.why, id)).join('') : `<p class="muted">${esc(empty)}</p>`}`;
  return `<section id="items"><h2>Outputs side by side</h2>
${group('regression', 'Largest regressions', picks.regressions, 'No item got worse from base to SFT or from SFT to DPO.')}
${group('disagreement', 'Where the methods disagree', picks.disagreements, 'No flagged disagreement.')}
${group('random', 'Random items', picks.random, 'No items.')}
</section>`;
}

function itemCard(data: ReportData, models: string[], index: number, why: string, group: string): string {
  const item = data.items[index];
  const user = [...item.messages].reverse().find((m) => m.role === 'user');
  const system = item.messages.find((m) => m.role === 'system');
  const sources = item.sources
    ? `<details><summary>${item.sources.length} source(s)</summary><ol class="sources">${item.sources.map((s) => `<li value="${s.index}">${esc(s.text)}</li>`).join('')}</ol></details>`
    : '';
  const expected = item.expected_call ? `<div class="expected"><span class="k">expected call</span><pre>${esc(JSON.stringify(item.expected_call))}</pre></div>` : '';
  const reference = item.reference !== undefined ? `<div class="expected"><span class="k">reference</span><pre>${esc(item.reference)}</pre></div>` : '';
  const outputs = models
    .map((model) => {
      const r: ItemResult | undefined = data.perItem[model]?.[index];
      if (!r) return `<div class="out"><h4>${esc(model)}</h4><p class="muted">no generations</p></div>`;
      const badges = Object.entries(r.scores)
        .sort(([a], [b]) => metricRank(a) - metricRank(b))
        .map(
          ([metric, v]) =>
            `<span class="badge ${good(metric, v) ? 'ok' : 'no'}" title="${esc(metric)}">${esc(short(metric))} ${v === 0 || v === 1 ? (good(metric, v) ? '✓' : '✗') : pct(v)}</span>`,
        )
        .join(' ');
      const notes = r.notes.length ? `<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
      return `<div class="out"><h4>${esc(model)}</h4><div class="badges">${badges}</div><pre>${r.output === '' ? '<span class="muted">(empty)</span>' : esc(r.output)}</pre>${notes}</div>`;
    })
    .join('');
  return `<article class="item" data-group="${group}" data-item="${esc(item.id)}">
<header><b>${esc(item.id)}</b> <span class="muted">cluster ${esc(item.cluster)} · ${esc(why)}</span></header>
${system ? `<details><summary>system prompt</summary><pre>${esc(system.content)}</pre></details>` : ''}
<div class="prompt"><span class="k">prompt</span><pre>${esc(user?.content ?? '')}</pre></div>
${sources}${expected}${reference}
<div class="outs" style="grid-template-columns: repeat(${models.length}, minmax(0, 1fr))">${outputs}</div></article>`;
}

function methodSection(data: ReportData): string {
  const m = data.metrics.method;
  const pairs = METHOD_PAIRS.map((p) => `<li>${esc(p.a)} vs ${esc(p.b)}: ${esc(p.what)}</li>`).join('');
  return `<section id="method"><h2>Method</h2><ul>
<li>intervals: ${m ? `${Math.round(m.bootstrap.confidence * 100)}% percentile bootstrap, ${m.bootstrap.resamples} resamples of clusters, seed ${m.bootstrap.seed}` : 'not computed'}</li>
<li>citation support: share of a sentence's content words found in the cited source, strict ≥ ${m ? pct(m.supportStrict) : '-'}, lenient ≥ ${m ? pct(m.supportLenient) : '-'}</li>
<li>disagreement flagged above ${m?.disagreementPoints ?? 10} points between:<ul>${pairs}</ul></li>
</ul></section>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f8fafc;margin:0;padding:20px 28px;max-width:1280px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}h3{font-size:15px;margin:18px 0 8px}h4{margin:0 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#374151}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;background:#f1f5f9;padding:6px 8px;border-radius:4px}
.muted{color:#6b7280}.small{font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0}th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f3f4f6}td.num{text-align:right}
#metrics td{white-space:nowrap}#metrics .v{font-weight:600}.ci{color:#6b7280;font-size:12px}
#metrics tr.primary th{color:#1d4ed8}
#metrics tr.flag th{background:#fef3c7}#metrics td.disagree{background:#fde68a;outline:2px solid #f59e0b;outline-offset:-2px}
.delta.up{color:#15803d;font-weight:600}.delta.down{color:#b91c1c;font-weight:600}.delta.flat{color:#374151}
.banner{padding:10px 12px;border-radius:6px;margin:6px 0;border:1px solid}
.banner.good{background:#ecfdf5;border-color:#10b981}.banner.bad{background:#fef2f2;border-color:#f87171}.banner.wait{background:#fffbeb;border-color:#f59e0b}
.banner ul{margin:4px 0}
.checks tr.fail td{background:#fef2f2}
.facts{display:flex;gap:14px;flex-wrap:wrap;margin-bottom:8px}.facts>div{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:8px 12px;min-width:120px}
.facts .k{display:block;color:#6b7280;font-size:12px}.facts .v{font-size:20px;font-weight:600}.facts .v.small{font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
svg.chart{background:#fff;border:1px solid #e5e7eb;border-radius:6px;max-width:100%;height:auto}
svg .title{font:600 13px system-ui,sans-serif;fill:#111827}svg .tick{font:11px system-ui,sans-serif;fill:#4b5563}svg .muted{font:12px system-ui,sans-serif;fill:#9ca3af}
svg .grid{stroke:#eef2f7}svg .axis{stroke:#9ca3af}
.item{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:10px 12px;margin:10px 0}
.item>header{margin-bottom:6px}.k{color:#6b7280;font-size:12px}
.outs{display:grid;gap:10px;margin-top:8px}.out{border-top:3px solid #cbd5e1;padding-top:6px;min-width:0}
.badge{display:inline-block;font-size:11px;padding:1px 6px;border-radius:10px;margin:0 2px 2px 0}.badge.ok{background:#dcfce7;color:#166534}.badge.no{background:#fee2e2;color:#991b1b}
.notes{margin:4px 0 0;padding-left:18px;color:#92400e;font-size:12px}
ol.sources{margin:4px 0;font-size:13px}
`;

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function good(metric: string, v: number): boolean {
  return higherIsBetter(metric) ? v >= 0.5 : v < 0.5;
}

function short(metric: string): string {
  return metric.replace('tool_call_', 'call_').replace('citation_', 'cite_').replace('_lenient', '~');
}

function metricRank(metric: string): number {
  const i = Object.keys(METRICS).indexOf(metric);
  return i < 0 ? 999 : i;
}

function rank(order: readonly string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

function extent(xs: number[]): [number, number] {
  return [Math.min(...xs), Math.max(...xs)];
}

function niceExtent(ys: number[]): [number, number] {
  let [lo, hi] = extent(ys);
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 || 1;
    hi += Math.abs(hi) * 0.1 || 1;
  }
  const step = niceStep((hi - lo) / 5);
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function ticks(lo: number, hi: number, count: number): number[] {
  if (hi <= lo) return [lo];
  const step = niceStep((hi - lo) / count);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.01 || a >= 1e5)) return v.toExponential(1);
  return Number(v.toPrecision(4)).toString();
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function elapsed(from: string, to: string): number | null {
  const d = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(d) && d >= 0 ? d : null;
}

/** HTML-escaped, with control characters (a tiny model emits them) shown as U+FFFD instead of breaking the page. */
function esc(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
