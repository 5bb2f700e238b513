/** From simulated runs to the figures the bench reports, and the table it prints. */
import type { Assumptions, BootImage, Policy, UploadMode } from './model';
import type { RunOutcome } from './runOne';

export interface ResultRow {
  policy: Policy;
  /** The host image booted: the stock Deep Learning VM, or one finetune image bake made. */
  image: BootImage;
  /** Checkpoint uploads inline (holding training) or in the background. */
  uploads: UploadMode;
  trace: string;
  preemptions_per_hour: number | null;
  /** Productive seconds over billed GPU seconds, summed over the runs. */
  productive_share: number | null;
  /** Every dollar the runs billed (finished or not) over the runs that finished; null when none did. */
  usd_per_finished_run: number | null;
  /** Mean dollars billed per run, finished or not (what a run that gave up still cost). */
  usd_per_run: number | null;
  /** Mean wall time of the finished runs. */
  wall_hours: number | null;
  /** Mean steps run twice per run. */
  steps_redone: number | null;
  runs: number;
  finished: number;
  stopped_by: string[];
  /** Shares of billed time: where the rest went. */
  split: { boot: number; productive: number; upload: number; redone: number; other: number } | null;
  mean_host_losses: number;
  mean_boot_losses: number;
  /** Preemptions that fell while no VM was up (between a loss and the next create, or in a backoff). */
  mean_missed_preemptions: number;
  /** Checks that failed: the figures above are then null. */
  premise_failures: string[];
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

export function aggregate(policy: Policy, image: BootImage, uploads: UploadMode, trace: string, perHour: number | null, runs: RunOutcome[]): ResultRow {
  const sum = (f: (r: RunOutcome) => number) => runs.reduce((s, r) => s + f(r), 0);
  const failures = runs.flatMap((r) => r.checks.filter((c) => !c.ok).map((c) => `seed ${r.seed}: ${c.name}: ${c.detail}`));
  const done = runs.filter((r) => r.finished);
  const billed = sum((r) => r.billedS);
  const ok = failures.length === 0;
  return {
    policy,
    image,
    uploads,
    trace,
    preemptions_per_hour: perHour,
    productive_share: ok ? round(sum((r) => r.productiveS) / billed, 4) : null,
    usd_per_finished_run: ok && done.length > 0 ? round(sum((r) => r.usd) / done.length, 2) : null,
    usd_per_run: ok ? round(sum((r) => r.usd) / runs.length, 2) : null,
    wall_hours: ok && done.length > 0 ? round(done.reduce((s, r) => s + r.wallS, 0) / done.length / 3600, 2) : null,
    steps_redone: ok ? round(sum((r) => r.stepsRedone) / runs.length, 1) : null,
    runs: runs.length,
    finished: done.length,
    stopped_by: runs.filter((r) => !r.finished).map((r) => r.failure ?? '?'),
    split: ok
      ? {
          boot: round(sum((r) => r.bootS) / billed, 4),
          productive: round(sum((r) => r.productiveS) / billed, 4),
          upload: round(sum((r) => r.uploadS) / billed, 4),
          redone: round(sum((r) => r.redoneS) / billed, 4),
          other: round(sum((r) => r.otherS) / billed, 4),
        }
      : null,
    mean_host_losses: round(sum((r) => r.hostLosses) / runs.length, 2),
    mean_boot_losses: round(sum((r) => r.bootLosses) / runs.length, 2),
    mean_missed_preemptions: round(sum((r) => r.missedPreemptions) / runs.length, 2),
    premise_failures: failures,
  };
}

export function renderTable(rows: ResultRow[], a: Assumptions): string {
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  const head = ['policy', 'image', 'uploads', 'preempt/h', 'productive', 'boot', 'upload', 'redone', '$/finished run', '$/run', 'wall h', 'steps redone', 'finished'];
  const body = rows.map((r) => [
    r.policy,
    r.image,
    r.uploads,
    r.preemptions_per_hour === null ? r.trace : String(r.preemptions_per_hour),
    pct(r.productive_share),
    pct(r.split?.boot ?? null),
    pct(r.split?.upload ?? null),
    pct(r.split?.redone ?? null),
    r.usd_per_finished_run === null ? '-' : `$${r.usd_per_finished_run.toFixed(2)}`,
    r.usd_per_run === null ? '-' : `$${r.usd_per_run.toFixed(2)}`,
    r.wall_hours === null ? '-' : r.wall_hours.toFixed(2),
    r.steps_redone === null ? '-' : String(r.steps_redone),
    `${r.finished}/${r.runs}${r.stopped_by.length ? ` (${[...new Set(r.stopped_by)].join(', ')})` : ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [
    `${a.machineType} spot at $${a.usdPerHour}/h; SFT ${a.stages.sft.steps} steps x ${a.stages.sft.stepS} s, save_steps ${a.stages.sft.saveSteps}, upload ${a.uploadS.toFixed(1)} s each, notice ${a.noticeS} s, max_host_losses ${a.maxHostLosses}`,
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
