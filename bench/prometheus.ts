/**
 * Reading a process's Prometheus text exposition (the worker's /metrics): a
 * counter's sum and a histogram's mean and quantiles, over the series whose
 * labels match. Quantiles come from the cumulative buckets, so each is the
 * upper bound of the bucket it falls in: an over-estimate, never an under.
 */
export interface Histogram {
  count: number;
  mean: number;
  quantile(q: number): number;
}

type Labels = Record<string, string>;

function series(text: string, name: string, match: Labels): { labels: Labels; value: number }[] {
  const out: { labels: Labels; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Labels = {};
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

export function counterSum(text: string, name: string, match: Labels = {}): number {
  return [...series(text, name, match), ...series(text, `${name}_total`, match)].reduce((a, s) => a + s.value, 0);
}

export function histogram(text: string, name: string, match: Labels = {}): Histogram {
  const count = counterSum(text, `${name}_count`, match);
  const sum = counterSum(text, `${name}_sum`, match);
  const buckets = new Map<number, number>();
  for (const s of series(text, `${name}_bucket`, match)) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  return {
    count,
    mean: count ? sum / count : NaN,
    quantile: (q) => sorted.find(([, n]) => n >= q * count)?.[0] ?? NaN,
  };
}
