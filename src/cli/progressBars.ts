/** Renders a run's progress as one bar per stage (step, loss, ETA). */
import { PIPELINE_STAGES, type RunProgress } from '../../workflows/progress';

const WIDTH = 24;

function bar(fraction: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}]`;
}

function eta(p: RunProgress['stages'][keyof RunProgress['stages']], nowMs: number): string {
  if (p.state !== 'running' || !p.startedAt || p.step <= 0 || p.totalSteps <= p.step) return '';
  const perStep = (nowMs - Date.parse(p.startedAt)) / 1000 / p.step;
  return ` eta ${Math.round(perStep * (p.totalSteps - p.step))}s`;
}

export function renderBars(p: RunProgress, nowMs = Date.now()): string[] {
  return PIPELINE_STAGES.map((name) => {
    const s = p.stages[name];
    const fraction = s.state === 'succeeded' ? 1 : s.totalSteps > 0 ? s.step / s.totalSteps : 0;
    const steps = s.totalSteps > 0 ? ` ${s.step}/${s.totalSteps}` : '';
    const loss = s.loss !== null ? ` loss ${s.loss.toFixed(4)}` : '';
    return `${name.padEnd(10)}${bar(fraction)} ${s.state.padEnd(9)}${steps}${loss}${eta(s, nowMs)}`;
  });
}

/** Redraws in place on a terminal; prints a line per change otherwise. */
export class ProgressView {
  private drawn = 0;
  private last = '';
  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: RunProgress): void {
    const lines = renderBars(p);
    if (this.out.isTTY) {
      if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
      for (const l of lines) this.out.write(`\x1b[2K${l}\n`);
      this.drawn = lines.length;
      return;
    }
    const current = lines.find((l) => l.startsWith(p.stage)) ?? '';
    const key = `${p.stage}:${p.stages[p.stage].state}:${Math.floor((p.stages[p.stage].step / Math.max(1, p.stages[p.stage].totalSteps)) * 4)}`;
    if (key !== this.last) {
      this.last = key;
      this.out.write(`${current}\n`);
    }
  }
}
