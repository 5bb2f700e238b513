/**
 * Turns raw config (parsed YAML/JSON) into a validated PipelineConfig, or a
 * ConfigInvalid error that names each bad field, the value given and the fix.
 * Pure: the workflow uses it too.
 */
import { z } from 'zod';
import { PipelineConfig, SECRET_FIELDS } from './schema';

export interface ConfigIssue {
  field: string;
  value: unknown;
  problem: string;
}

export class ConfigInvalid extends Error {
  readonly name: string = 'ConfigInvalid';
  constructor(readonly issues: ConfigIssue[]) {
    super(
      `config is invalid:\n` +
        issues.map((i) => `  - ${i.field || '(root)'}: ${i.problem} (got ${show(i.value)})`).join('\n'),
    );
  }
}

/** A value as an error shows it: JSON, cut at 80 characters. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function problemOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown field(s) ${issue.keys.join(', ')}: remove them or check the spelling (see docs/config.md)`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return `is required: add it (${issue.expected})`;
  }
  if (issue.code === 'invalid_union' || issue.code === 'invalid_value') {
    return issue.message;
  }
  return issue.message;
}

export function parseConfig(raw: unknown): PipelineConfig {
  const result = PipelineConfig.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigInvalid(
    result.error.issues.map((issue) => {
      const field = issue.path.map(String).join('.');
      return {
        field,
        // A list's items are one rule each: notify.webhooks.2.secret is notify.webhooks.*.secret.
        value: SECRET_FIELDS.has(field.replace(/\.\d+(?=\.|$)/g, '.*')) ? '<not shown>' : 'input' in issue && issue.input !== undefined ? issue.input : valueAt(raw, issue.path),
        problem: problemOf(issue),
      };
    }),
  );
}
