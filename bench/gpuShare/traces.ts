/**
 * Preemption traces: the times (seconds from the run's start) at which the
 * zone takes the spot VM back. A Poisson model for the standard rates, or a
 * file of real ones: JSON lines, one preemption each, {"at_s": 5400} or
 * {"zone": "us-central1-a", "at_s": 5400}. A preemption strikes whatever host
 * is up in that zone at that time; one that finds no host strikes nothing.
 */
import * as fs from 'node:fs';
import { seededRandom } from '../../src/eval/bootstrap';

export interface Preemption {
  atS: number;
  zone?: string;
}

export class TraceInvalid extends Error {
  readonly name = 'TraceInvalid';
}

/** Preemptions of a Poisson process at `perHour`, seeded, up to `horizonS`. */
export function poissonTrace(perHour: number, seed: number, horizonS: number): Preemption[] {
  const u = seededRandom(seed);
  const out: Preemption[] = [];
  for (let t = 0; ;) {
    t += (-Math.log(1 - u()) / perHour) * 3600;
    if (t > horizonS) return out;
    out.push({ atS: t });
  }
}

/** Reads a trace file; a bad line is TraceInvalid naming the line, the field and the fix. */
export function readTrace(file: string): Preemption[] {
  const text = fs.readFileSync(file, 'utf8');
  return parseTrace(text, file);
}

export function parseTrace(text: string, name = 'trace'): Preemption[] {
  const out: Preemption[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${name} line ${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new TraceInvalid(`${where}: not JSON; write one object per line, e.g. {"at_s": 5400} or {"zone": "us-central1-a", "at_s": 5400}`);
    }
    const r = row as { at_s?: unknown; zone?: unknown };
    if (typeof r.at_s !== 'number' || !Number.isFinite(r.at_s) || r.at_s < 0) {
      throw new TraceInvalid(`${where}: at_s must be a number of seconds from the run's start, >= 0 (got ${JSON.stringify(r.at_s)})`);
    }
    if (r.zone !== undefined && typeof r.zone !== 'string') {
      throw new TraceInvalid(`${where}: zone must be a string such as "us-central1-a" or left out (got ${JSON.stringify(r.zone)})`);
    }
    out.push({ atS: r.at_s, ...(r.zone !== undefined ? { zone: r.zone as string } : {}) });
  });
  return out.sort((a, b) => a.atS - b.atS);
}
