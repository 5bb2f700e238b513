/**
 * Turns raw config (parsed YAML/JSON) into a validated PipelineConfig, or a
 * ConfigInvalid error that names each bad field, what was wrong with the value
 * given and the fix. Everything printed is made printable first: a config is
 * user input, and a control character in it must not reach a terminal or log.
 * Pure: the workflow uses it too.
 */
import { z } from 'zod';
import { printable } from '../printable';
import { PipelineConfig, SECRET_FIELDS } from './schema';

export interface ConfigIssue {
  field: string;
  /** undefined: the config does not have the field at all. */
  value: unknown;
  problem: string;
}

export class ConfigInvalid extends Error {
  readonly name: string = 'ConfigInvalid';
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const shown = issues.map((i) => ({ ...i, field: printable(i.field), problem: printable(i.problem) }));
    super(`config is invalid:\n` + shown.map((i) => `  - ${i.field || '(root)'}: ${i.problem} ${i.value === undefined ? '(not set)' : `(got ${show(i.value)})`}`).join('\n'));
    this.issues = shown;
  }
}

/** A value as an error shows it: JSON with NaN and Infinity named, control characters escaped, cut at 80 characters. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `<${v}>` : typeof v === 'bigint' ? `<${v}n>` : v)) ?? `<${typeof value}>`;
  } catch {
    text = `<${Array.isArray(value) ? 'a list' : typeof value} that cannot be shown>`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  text = printable(text);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** What a wrong-typed value is, in words: "a string", "NaN", "a list". */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? 'a number' : String(value);
  if (typeof value === 'boolean') return 'true/false';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string (text)',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping (field: value)',
  record: 'a mapping (key: value)',
};

/** The raw value at path, and whether the config has that field at all. */
function valueAt(raw: unknown, path: PropertyKey[]): { present: boolean; value: unknown } {
  let v: unknown = raw;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) return { present: false, value: undefined };
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return { present: v !== undefined, value: v };
}

function problemOf(issue: z.core.$ZodIssue, present: boolean, given: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown field(s) ${issue.keys.join(', ')}: remove them or check the spelling (see docs/config.md)`;
  }
  if (issue.code === 'invalid_type') {
    const expected = EXPECTED[issue.expected] ?? issue.expected;
    if (!present) return `is required: add it (${issue.expected})`;
    if (typeof given === 'number' && Number.isNaN(given)) return `is NaN (not a number): write ${expected}`;
    if (typeof given === 'number' && !Number.isFinite(given)) return `is ${given}, which is not a finite number: write ${expected}`;
    if (issue.expected === 'int' && typeof given === 'number') return `is ${given}, not a whole number: write ${expected}`;
    const quotedNumber = typeof given === 'string' && issue.expected !== 'string' && given.trim() !== '' && Number.isFinite(Number(given));
    return `is ${kindOf(given)} where ${expected} belongs${quotedNumber ? `: write ${given.trim()} without quotes` : ''}`;
  }
  if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0 && issue.message === 'Invalid input') {
    // zod says only "Invalid input"; say which forms the field takes.
    const forms = issue.errors.map((branch) => formOf(branch[0])).filter((f): f is string => f !== undefined);
    return `${present ? `is ${kindOf(given)} that` : 'is required and'} matches none of its forms: write ${[...new Set(forms)].join(' or ')}`;
  }
  return issue.message;
}

function formOf(issue: z.core.$ZodIssue | undefined): string | undefined {
  if (!issue) return undefined;
  if (issue.code === 'invalid_value') return issue.values.map((v) => JSON.stringify(v)).join(' or ');
  if (issue.code === 'invalid_type') return EXPECTED[issue.expected] ?? issue.expected;
  if (issue.code === 'too_small' || issue.code === 'too_big')
    return `a number ${issue.code === 'too_small' ? '>=' : '<='} ${issue.code === 'too_small' ? issue.minimum : issue.maximum}`;
  return issue.message;
}

export function parseConfig(raw: unknown): PipelineConfig {
  const result = PipelineConfig.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigInvalid(
    result.error.issues.map((issue) => {
      const field = issue.path.map(String).join('.');
      const { present, value } = valueAt(raw, issue.path);
      // A list's items are one rule each: notify.webhooks.2.secret is notify.webhooks.*.secret.
      const secret = SECRET_FIELDS.has(field.replace(/\.\d+(?=\.|$)/g, '.*'));
      return { field, value: present && secret ? '<not shown>' : value, problem: problemOf(issue, present, value) };
    }),
  );
}
