/** The human listing of `finetune models`: one block per promoted model, its lineage a line each. */
import type { ModelRecord } from './record';

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

function baseLine(b: ModelRecord['base_model']): string {
  if (!b) return 'not recorded';
  if (!b.repo) return `${b.ref} (not a Hub model: no commit)`;
  return `hf:${b.repo} @ ${b.commit ?? '?'}${b.revision && b.revision !== b.commit ? ` (asked for ${b.revision})` : ''}`;
}

function metricLine(p: ModelRecord['primary_metric']): string {
  if (!p) return 'not recorded';
  const iv = p.lo !== null && p.hi !== null ? ` [${pct(p.lo)}, ${pct(p.hi)}]` : '';
  return `${p.name} ${pct(p.value)}${iv} on ${p.n} items`;
}

function gateLine(g: ModelRecord['gate']): string {
  if (!g) return 'not recorded';
  return `${g.state}${g.by ? ` by ${g.by}` : ''}${g.decided_at ? ` at ${g.decided_at}` : ''}`;
}

function weightsLine(w: ModelRecord['weights']): string {
  return `${w.uri}${w.commit ? ` @ ${w.commit}` : ''}${w.repo_url ? ` (${w.repo_url})` : ''}`;
}

export function formatModels(models: ModelRecord[]): string[] {
  return models.flatMap((m, i) => [
    ...(i > 0 ? [''] : []),
    `${m.run_id}  ${m.model} model of ${m.name}, promoted ${m.promoted_at}`,
    `  weights  ${weightsLine(m.weights)}`,
    `  base     ${baseLine(m.base_model)}`,
    ...m.data.map((d, j) => `  ${j === 0 ? 'data   ' : '       '}  ${d.field} ${d.ref.split('/').pop()}: ${d.rows} rows, sha256 ${d.sha256}`),
    `  metric   ${metricLine(m.primary_metric)}`,
    `  gate     ${gateLine(m.gate)}`,
    `  cost     ${m.cost_usd === null ? 'not recorded' : `$${m.cost_usd.toFixed(2)}`}`,
  ]);
}
