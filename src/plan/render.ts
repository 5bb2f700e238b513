/** A plan as the lines `finetune plan` prints for people. */
import type { Provisioning } from './estimate';
import type { LengthStats } from './lengths';
import type { Plan } from './plan';
import { formatParams } from './throughput';

const n = (x: number) => x.toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const hours = (h: number | null) => (h === null ? 'unknown' : h < 1 / 60 ? `${Math.round(h * 3600)} s` : h < 1 ? `${Math.round(h * 60)} min` : `${h.toFixed(2)} h`);
const usd = (x: number | null) => (x === null ? 'unknown' : `$${x.toFixed(2)}`);

function lengthLine(stage: string, s: LengthStats): string {
  return `  ${stage.padEnd(4)} ${String(s.rows).padStart(7)} rows ${n(s.tokens).padStart(12)} tokens   min ${s.min}  p50 ${s.p50}  p90 ${s.p90}  p99 ${s.p99}  max ${s.max}   over max_length ${s.max_length}: ${pct(s.truncated_share)}`;
}

function provisioningLine(label: string, p: Provisioning, rate: number, paid: boolean): string {
  const gpu = p.gpu_hours === null ? '' : `, ${p.gpu_hours.toFixed(2)} GPU h`;
  const pre = p.preemptions > 0 ? `, ~${p.preemptions} preemptions` : '';
  return `  ${label.padEnd(10)} ${hours(p.wall_hours).padStart(9)} wall${gpu}${pre}  at $${rate.toFixed(2)}/h = ${usd(p.usd)}${paid ? '   <- this config' : ''}`;
}

/** The plan's lines, local paths shown relative to the folder the command runs in. */
export function planLines(file: string, p: Plan): string[] {
  const here = `${process.cwd()}/`;
  return lines(file, p).map((l) => l.split(here).join(''));
}

function lines(file: string, p: Plan): string[] {
  const host = p.host.provider === 'gce' ? `${p.host.machine_type} (${p.host.gpus} GPU)` : 'local';
  const out = [
    `plan for ${file}: ${p.name}, model ${p.model.base}${p.model.params === null ? '' : ` (${formatParams(p.model.params)} parameters)`}, host ${host}`,
    '',
    `data (${p.tokens_note}):`,
  ];
  if (p.lengths) {
    out.push(lengthLine('sft', p.lengths.sft), lengthLine('dpo', p.lengths.dpo));
    if (p.rows) out.push(`  eval ${String(p.rows.eval).padStart(7)} items, ${n(p.tokens?.eval_prompts ?? 0)} prompt tokens`);
  }
  if (p.repeats) {
    out.push(
      `  eval prompts also in the training data: ${p.repeats.eval_items} (${pct(p.repeats.share)})${p.repeats.examples.length ? `, eval lines ${p.repeats.examples.join(', ')}` : ''}`,
    );
  }
  out.push('', 'training:');
  for (const s of p.stages) {
    out.push(
      `  ${s.stage.padEnd(4)} ${String(s.steps).padStart(6)} steps ${n(s.tokens).padStart(14)} tokens trained   ${s.step_seconds === null ? '' : `${s.step_seconds} s/step  `}${hours(s.hours)}`,
    );
  }
  out.push(`  throughput ${p.throughput.sft_tokens_per_s === null ? 'unknown' : `${n(p.throughput.sft_tokens_per_s)} tokens/s`} (${p.throughput.source})`);
  out.push('', 'cost:');
  if (p.price) {
    if (p.host.provider === 'gce') {
      out.push(provisioningLine('spot', p.spot, p.price.spot, p.host.spot), provisioningLine('on-demand', p.on_demand, p.price.on_demand, !p.host.spot));
      out.push(`  spot: ${p.preemption.per_hour} preemptions/h, ${p.preemption.boot_s} s per boot (${p.preemption.source})`);
    } else {
      out.push(provisioningLine('local', p.on_demand, p.price.on_demand, true));
    }
    out.push(`  prices: ${p.price.source}${p.price.needs_refresh ? ' - NEEDS A REFRESH: check the list or set cost.prices' : ''}`);
  }
  out.push(
    p.budget_usd === null
      ? '  budget: none set (cost.budget_usd)'
      : `  budget: $${p.budget_usd} ${p.budget_ok === null ? 'cannot be checked (cost unknown)' : p.budget_ok ? 'holds' : 'is NOT enough'}`,
  );
  out.push(`  not counted: ${p.not_counted.join('; ')}`);
  return out;
}
