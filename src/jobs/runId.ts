/**
 * The run id is the workflow id, and it becomes a store folder (runs/<id>/),
 * the host ids (<id>-h<n>), an argument of the agent's command line, a VM's
 * name and label, and a local folder. One rule keeps it safe in all of them;
 * trainer/durable_finetune/runs.py holds the same rule, and both are tested
 * with test/fixtures/store/keys.json. A schedule's runs are
 * <schedule id>-workflow-<RFC 3339 time>, hence ':' (docs/config.md).
 * Pure: the workflow uses it too.
 */
import { quoted } from '../printable';

export const RUN_ID_MAX = 128;
export const RUN_ID_RULE = `a run id is 1-${RUN_ID_MAX} letters, digits and . _ : -, starting with a letter or digit`;

export class RunIdInvalid extends Error {
  readonly name = 'RunIdInvalid';
  constructor(
    readonly field: string,
    value: unknown,
    readonly reason: string,
  ) {
    super(`${field}${typeof value === 'string' ? ` ${quoted(value)}` : ''} is invalid: ${reason}; ${RUN_ID_RULE}`);
  }
}

/** Why id is not a usable run id, or undefined. */
export function runIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return `is ${id === null ? 'null' : `a ${typeof id}`}, not a string`;
  if (id === '') return 'is empty';
  const bad = /[^A-Za-z0-9._:-]/u.exec(id);
  if (bad) return `holds ${describeChar(bad[0])}`;
  if (!/^[A-Za-z0-9]/.test(id)) {
    return `starts with ${quoted(id[0])}${id[0] === '-' ? ', which a command line reads as an option' : ''}`;
  }
  if (id.length > RUN_ID_MAX) return `is ${id.length} characters long, more than ${RUN_ID_MAX}`;
  return undefined;
}

/** The run id, or RunIdInvalid naming `field` (the option or place it came from). */
export function checkRunId(id: string, field = 'run id'): string {
  const problem = runIdProblem(id);
  if (problem) throw new RunIdInvalid(field, id, problem);
  return id;
}

/** `<run id>-h<n>`: the run id checked, n a whole number from 1. */
export function hostIdOf(runId: string, hostIndex: number): string {
  if (!Number.isSafeInteger(hostIndex) || hostIndex < 1) throw new RangeError(`host index ${hostIndex} is not a whole number from 1`);
  return `${checkRunId(runId)}-h${hostIndex}`;
}

/** What a schedule adds to its id to name a run (the SDK's -workflow, then the server's -<RFC 3339 time>). */
export const SCHEDULE_RUN_SUFFIX = '-workflow-2006-01-02T15:04:05Z';

/** Why id cannot name a schedule, or undefined: the runs it starts must have valid run ids. */
export function scheduleIdProblem(id: string): string | undefined {
  const problem = runIdProblem(id);
  if (problem) return problem;
  const room = RUN_ID_MAX - SCHEDULE_RUN_SUFFIX.length;
  return id.length > room ? `is ${id.length} characters long, more than ${room} (its runs are <id>${SCHEDULE_RUN_SUFFIX})` : undefined;
}

/** A host id (hostIdOf makes <run id>-h<n>), or RunIdInvalid: it is a store folder and an agent argument too, so the run id rule holds. */
export function checkHostId(hostId: string, field = 'host id'): string {
  return checkRunId(hostId, field);
}

function describeChar(c: string): string {
  const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  if (/\p{Cc}/u.test(c)) return `a control character (${code})`;
  if (c === ' ') return 'a space';
  if (c === '/') return `"/", which would put the run inside another run's folder in the store`;
  return `${quoted(c)} (${code})`;
}
