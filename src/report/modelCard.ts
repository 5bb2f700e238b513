/**
 * The model card (README.md) of a promoted model, made from the run: base
 * model and commit, data files with sha256 and rows, training settings, the
 * eval table with intervals, the gate's decision, the cost, and the largest
 * regressions the eval found. Hugging Face card YAML front matter on top; its
 * `durable_finetune_run` key is what promote reads back to know a repo's
 * latest commit is one of ours. Pure and deterministic: the same run renders
 * the same bytes, so a re-promotion finds nothing changed.
 */
import type { GateOutcome } from '../eval/gate';
import { higherIsBetter } from '../eval/metricInfo';
import type { RunMetrics } from '../eval/metrics';
import type { BaseModelLine } from './data';

/** The front-matter key that marks a card (and so a repo's commit) as durable-finetune's, with the run id. */
export const CARD_RUN_KEY = 'durable_finetune_run';

export interface DataFileFacts {
  /** The config field: data.sft, data.preferences, data.eval. */
  field: string;
  ref: string;
  sha256: string;
  rows: number;
}

export interface ModelCardInput {
  runId: string;
  /** Which model the gate promoted. */
  promoted: 'sft' | 'dpo';
  /** Where it is published: hf:<org>/<name>, a folder or gs:// URI. */
  destination: string;
  baseModel: BaseModelLine | null;
  dtype: string;
  data: DataFileFacts[];
  /** The config sections that shaped the weights, as run.json records them. */
  training: { sft: Record<string, unknown>; merge: Record<string, unknown>; dpo: Record<string, unknown> };
  metrics: RunMetrics;
  gate: GateOutcome | null;
}

/** A metric where a model scored worse than the one it was trained from (or the base). */
export interface Regression {
  model: string;
  baseline: string;
  metric: string;
  /** model - baseline, in the metric's units (negative: worse for higher-is-better metrics). */
  delta: number;
  lo?: number;
  hi?: number;
  /** The 95% interval excludes zero. */
  significant: boolean;
}

const pct = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(1)}%`);
const pts = (v: number): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} pts`;
const yaml = (v: string): string => JSON.stringify(v);
const usd = (v: number): string => `$${v.toFixed(2)}`;

/** The comparisons the card reports: SFT vs base, DPO vs SFT (with intervals), DPO vs base (point estimate). */
export function regressions(metrics: RunMetrics): Regression[] {
  const out: Regression[] = [];
  for (const d of metrics.deltas ?? []) {
    const worse = higherIsBetter(d.metric) ? d.mean < 0 : d.mean > 0;
    if (worse) out.push({ model: d.model, baseline: d.baseline, metric: d.metric, delta: d.mean, lo: d.lo, hi: d.hi, significant: d.lo > 0 || d.hi < 0 });
  }
  const base = metrics.models.base;
  const dpo = metrics.models.dpo;
  if (base && dpo && !(metrics.deltas ?? []).some((d) => d.model === 'dpo' && d.baseline === 'base')) {
    for (const metric of Object.keys(dpo)) {
      if (base[metric] === undefined) continue;
      const delta = dpo[metric] - base[metric];
      if (higherIsBetter(metric) ? delta < 0 : delta > 0) out.push({ model: 'dpo', baseline: 'base', metric, delta, significant: false });
    }
  }
  return out.sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta));
}

export function renderModelCard(c: ModelCardInput): string {
  const hub = c.baseModel?.hub;
  const tags = ['durable-finetune', 'sft', ...(c.promoted === 'dpo' ? ['dpo'] : []), 'text-generation'];
  const front = [
    '---',
    ...(hub ? [`base_model: ${yaml(hub.repo)}`] : []),
    'library_name: transformers',
    'pipeline_tag: text-generation',
    'tags:',
    ...tags.map((t) => `- ${t}`),
    `${CARD_RUN_KEY}: ${yaml(c.runId)}`,
    '---',
  ];
  const title = c.destination.startsWith('hf:') ? c.destination.slice(3) : `run ${c.runId}`;
  const primary = c.metrics.primaryMetric;
  const chosen = c.metrics.models[c.promoted]?.[primary];
  const lines = [
    ...front,
    '',
    `# ${title}`,
    '',
    `The ${c.promoted === 'dpo' ? 'DPO' : 'SFT'} model of durable-finetune run \`${c.runId}\`: ` +
      `${primary} ${pct(chosen)} on ${c.metrics.n} eval items (base ${pct(c.metrics.models.base?.[primary])}). ` +
      'A full model (LoRA merged into the base weights), loadable with `AutoModelForCausalLM.from_pretrained`.',
    '',
    '## Base model',
    '',
    hub
      ? `[${hub.repo}](https://huggingface.co/${hub.repo}) at commit \`${hub.commit}\`${hub.revision !== hub.commit ? ` (asked for \`${hub.revision}\`)` : ''}.`
      : c.baseModel
        ? `\`${c.baseModel.ref}\` (not a Hub model: no commit to pin).`
        : 'Not recorded (run.json is missing).',
    '',
    '## Training data',
    '',
    '| file | rows | sha256 |',
    '| --- | ---: | --- |',
    ...c.data.map((d) => `| ${d.field}: \`${d.ref.split('/').pop()}\` | ${d.rows} | \`${d.sha256}\` |`),
    '',
    '## Training settings',
    '',
    `Weights in ${c.dtype}.`,
    '',
    ...(['sft', 'merge', 'dpo'] as const).flatMap((stage) => [`- **${stage}**: ${settings(c.training[stage])}`]),
    '',
    '## Evaluation',
    '',
    ...evalTable(c.metrics),
    '',
    '## Gate',
    '',
    gateLine(c.gate, c.promoted),
    '',
    '## Cost',
    '',
    costLine(c.metrics),
    '',
    '## Limitations',
    '',
    ...limitations(c.metrics),
    '',
  ];
  return lines.join('\n');
}

/** key=value of a settings section; nested objects (LoRA) inline as JSON. */
function settings(section: Record<string, unknown>): string {
  const entries = Object.entries(section).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '(defaults)';
  return entries.map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ');
}

function evalTable(m: RunMetrics): string[] {
  const models = ['base', 'sft', 'dpo'].filter((x) => m.models[x]);
  const metricNames = [...new Set(models.flatMap((x) => Object.keys(m.models[x])))];
  metricNames.sort((a, b) => (a === m.primaryMetric ? -1 : b === m.primaryMetric ? 1 : a.localeCompare(b)));
  const cell = (model: string, metric: string): string => {
    const iv = m.intervals?.[model]?.[metric];
    return iv ? `${pct(m.models[model][metric])} [${pct(iv.lo)}, ${pct(iv.hi)}]` : pct(m.models[model][metric]);
  };
  return [
    `${m.n} items; each cell is the mean with its 95% ${m.method ? `${m.method.resampledBy} ` : ''}bootstrap interval. **${m.primaryMetric}** is the primary metric.`,
    '',
    `| metric | ${models.join(' | ')} |`,
    `| --- | ${models.map(() => '---:').join(' | ')} |`,
    ...metricNames.map((metric) => `| ${metric === m.primaryMetric ? `**${metric}**` : metric} | ${models.map((x) => cell(x, metric)).join(' | ')} |`),
  ];
}

function gateLine(gate: GateOutcome | null, promoted: string): string {
  if (!gate) return `Not recorded; the ${promoted} model was promoted.`;
  const who = gate.by ? ` by ${gate.by}${gate.decidedAt ? ` at ${gate.decidedAt}` : ''}${gate.note ? ` ("${gate.note}")` : ''}` : '';
  const failed = gate.checks.filter((ch) => !ch.passed);
  return `${gate.state}${who}: ${gate.reason}.${failed.length ? ` Failed checks: ${failed.map((ch) => `${ch.model} ${ch.metric} ${ch.kind}`).join(', ')}.` : ''}`;
}

function costLine(m: RunMetrics): string {
  const cost = m.run?.cost;
  if (!cost) return 'Not recorded for this run.';
  return (
    [
      `Hosts: ${usd(cost.spentUsd)}`,
      cost.wastedUsd > 0 ? `of which ${usd(cost.wastedUsd)} redid work after host losses (${m.run?.hostLosses ?? 0} lost)` : undefined,
      cost.budgetUsd !== null ? `budget ${usd(cost.budgetUsd)}` : undefined,
      cost.managedUsd !== null ? `a managed fine-tuning service would have charged about ${usd(cost.managedUsd)}` : undefined,
    ]
      .filter(Boolean)
      .join('; ') + '.'
  );
}

function limitations(m: RunMetrics): string[] {
  const found = regressions(m);
  const notes = [`Evaluated on ${m.n} items only: the intervals above are the uncertainty; a difference whose interval spans zero is not established.`];
  if (found.length === 0) return [`- ${notes[0]}`, '- The eval found no metric on which a trained model scored below the model it was trained from or the base.'];
  return [
    `- ${notes[0]}`,
    '- The largest regressions the eval found:',
    '',
    '| model | vs | metric | change | 95% interval |',
    '| --- | --- | --- | ---: | --- |',
    ...found
      .slice(0, 8)
      .map(
        (r) =>
          `| ${r.model} | ${r.baseline} | ${r.metric}${higherIsBetter(r.metric) ? '' : ' (lower is better)'} | ${pts(r.delta)} | ${r.lo === undefined ? 'point estimate' : `[${pts(r.lo!)}, ${pts(r.hi!)}]${r.significant ? ' (significant)' : ''}`} |`,
      ),
  ];
}
