/**
 * Bootstrap intervals that respect how eval items hang together: items from
 * one source document (one cluster) are not independent, so a resample draws
 * whole clusters. Seeded, so the same scores always give the same interval.
 */

export interface ClusteredValue {
  cluster: string;
  value: number;
}

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  /** Items the mean is over. */
  n: number;
  /** Clusters resampled; below 2 the items are resampled one by one instead. */
  clusters: number;
}

export interface BootstrapOptions {
  resamples: number;
  seed: number;
  /** 0.95 for a 95% interval. */
  confidence: number;
}

export const DEFAULT_BOOTSTRAP: BootstrapOptions = { resamples: 1000, seed: 0, confidence: 0.95 };

/** mulberry32: a small, fast, seedable generator; uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Percentile interval of the mean over items, drawing clusters with
 * replacement (each resample's mean is over the items its clusters hold).
 */
export function clusterBootstrap(values: ClusteredValue[], options: Partial<BootstrapOptions> = {}): Interval {
  const { resamples, seed, confidence } = { ...DEFAULT_BOOTSTRAP, ...options };
  const n = values.length;
  if (n === 0) return { mean: 0, lo: 0, hi: 0, n: 0, clusters: 0 };
  const groups = new Map<string, { sum: number; count: number }>();
  for (const v of values) {
    const g = groups.get(v.cluster) ?? { sum: 0, count: 0 };
    g.sum += v.value;
    g.count += 1;
    groups.set(v.cluster, g);
  }
  // Clusters in a fixed order, so the draw does not depend on the order of the items.
  let units = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  if (units.length < 2) units = values.map((v) => ({ sum: v.value, count: 1 }));
  const mean = values.reduce((s, v) => s + v.value, 0) / n;
  const random = seededRandom(seed);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    let count = 0;
    for (let k = 0; k < units.length; k++) {
      const u = units[Math.floor(random() * units.length)];
      sum += u.sum;
      count += u.count;
    }
    stats[r] = sum / count;
  }
  stats.sort();
  const tail = (1 - confidence) / 2;
  return { mean, lo: quantile(stats, tail), hi: quantile(stats, 1 - tail), n, clusters: groups.size };
}

export interface PairedValue {
  cluster: string;
  /** The baseline model's score on the item. */
  a: number;
  /** The compared model's score on the same item. */
  b: number;
}

/** Interval of mean(b - a) over the same items, resampled by cluster. */
export function pairedDelta(pairs: PairedValue[], options: Partial<BootstrapOptions> = {}): Interval {
  return clusterBootstrap(
    pairs.map((p) => ({ cluster: p.cluster, value: p.b - p.a })),
    options,
  );
}

/** Linear interpolation between order statistics (type 7, as R and numpy default). */
function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
