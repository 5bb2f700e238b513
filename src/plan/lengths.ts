/**
 * The length distribution of a stage's rows in tokens and the share that
 * `max_length` truncates: trl cuts a row longer than max_length, so its end
 * (the answer the stage learns from) is lost. Pure.
 */

export interface LengthStats {
  rows: number;
  /** Every token of every row, untruncated (for DPO: chosen and rejected sequences, prompt in each). */
  tokens: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  max_length: number;
  /** Rows longer than max_length (DPO: either sequence), as a share of all rows. */
  truncated_share: number;
  /** Tokens one row puts through training after truncation, on average. */
  mean_trained_tokens: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Rows of one or more sequences each (SFT: one; DPO: chosen and rejected). */
export function lengthStats(rows: number[][], maxLength: number): LengthStats {
  const longest = rows.map((seqs) => Math.max(...seqs)).sort((a, b) => a - b);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const trained = sum(rows.map((seqs) => sum(seqs.map((n) => Math.min(n, maxLength)))));
  return {
    rows: rows.length,
    tokens: sum(rows.map(sum)),
    min: longest[0] ?? 0,
    p50: percentile(longest, 50),
    p90: percentile(longest, 90),
    p99: percentile(longest, 99),
    max: longest[longest.length - 1] ?? 0,
    max_length: maxLength,
    truncated_share: rows.length === 0 ? 0 : longest.filter((n) => n > maxLength).length / rows.length,
    mean_trained_tokens: rows.length === 0 ? 0 : trained / rows.length,
  };
}
