/**
 * Reads the run's data files before anything is paid for: `finetune validate`
 * reads the local ones, and the run's first activity (prepareRun) reads all
 * of them, gs:// objects through the store, before a host is provisioned.
 * Every problem is named by field, file, line and key, the first
 * ISSUES_SHOWN per file in the message with a count of the rest.
 */
import { promises as fs } from 'node:fs';
import type { z } from 'zod';
import { ConfigInvalid, show, type ConfigIssue } from '../config/parse';
import { printable } from '../printable';
import type { PipelineConfig } from '../config/schema';
import { EvalItemsInvalid, parseEvalItems } from '../eval/items';
import { openStore } from '../store/open';
import { readJsonl, type LineIssue } from './jsonl';
import { PreferenceRow, SftRow } from './rows';

export type DataKind = keyof PipelineConfig['data'];

/** Problems listed per file; the rest are counted. */
export const ISSUES_SHOWN = 20;

export interface DataIssue extends ConfigIssue {
  /** The path or gs:// URI read. */
  file: string;
  /** 1-based; 0 for the file as a whole. */
  line: number;
  /** Where in the row ('messages.2.role'); '' for the whole line. */
  key: string;
}

export class DataInvalid extends ConfigInvalid {
  override readonly name = 'DataInvalid';
  constructor(
    /** The first ISSUES_SHOWN of each file. */
    override readonly issues: DataIssue[],
    /** Problems found per field, shown or not. */
    readonly totals: Partial<Record<string, number>>,
  ) {
    super(issues);
    const lines = issues.map(
      (i) => `  - ${i.field}: ${i.file}${i.line > 0 ? ` line ${i.line}` : ''}${i.key ? `, ${i.key}` : ''}: ${i.problem}${i.value === undefined ? '' : ` (got ${show(i.value)})`}`,
    );
    for (const [field, total] of Object.entries(totals)) {
      const shown = issues.filter((i) => i.field === field).length;
      if (total !== undefined && total > shown) lines.push(`  - ${field}: ${total - shown} more problems not shown (${total} in all)`);
    }
    // A data row's keys and values are user input: no control character of theirs reaches the terminal.
    this.message = `data files are invalid; fix them, then run \`finetune validate\` again:\n${lines.map(printable).join('\n')}`;
  }
}

/** Every problem of one data file, in line order. */
export function dataProblems(kind: DataKind, bytes: Uint8Array): LineIssue[] {
  if (kind === 'eval') return evalProblems(bytes);
  const { rows, issues } = readJsonl(bytes);
  const schema: z.ZodType = kind === 'sft' ? SftRow : PreferenceRow;
  for (const { line, value } of rows) {
    const parsed = schema.safeParse(value);
    if (parsed.success) continue;
    for (const issue of parsed.error.issues) {
      const at = issue.path.map(String);
      issues.push({ line, key: at.join('.'), problem: issue.message, value: issue.input ?? valueAt(value, at) });
    }
  }
  return issues.sort((a, b) => a.line - b.line);
}

/** Eval items are src/eval/items.ts's to judge; lines that are not even UTF-8 are named once, here. */
function evalProblems(bytes: Uint8Array): LineIssue[] {
  const { issues, text } = readJsonl(bytes, { parseJson: false });
  const named = new Set(issues.map((i) => i.line));
  try {
    parseEvalItems(text);
  } catch (err) {
    if (!(err instanceof EvalItemsInvalid)) throw err;
    for (const i of err.issues) if (!named.has(i.line)) issues.push({ line: i.line, key: i.field, problem: i.problem });
  }
  return issues.sort((a, b) => a.line - b.line);
}

/**
 * Reads and checks each data file of a resolved config (local paths
 * absolute: resolveLocalPaths). gs:// files are read only with remote: true;
 * their URIs come back as skipped otherwise. Throws DataInvalid listing the problems.
 */
export async function checkDataFiles(data: PipelineConfig['data'], opts: { remote: boolean }): Promise<{ checked: string[]; skipped: string[] }> {
  const issues: DataIssue[] = [];
  const totals: Record<string, number> = {};
  const checked: string[] = [];
  const skipped: string[] = [];
  for (const kind of Object.keys(data) as DataKind[]) {
    const file = data[kind];
    const field = `data.${kind}`;
    if (file.startsWith('gs://') && !opts.remote) {
      skipped.push(file);
      continue;
    }
    const bytes = await readData(file);
    const found: LineIssue[] = bytes
      ? dataProblems(kind, bytes)
      : [{ line: 0, key: '', problem: `does not exist; fix the reference in ${field} or ${file.startsWith('gs://') ? 'upload the file' : 'create the file'}` }];
    checked.push(file);
    if (found.length === 0) continue;
    totals[field] = found.length;
    issues.push(...found.slice(0, ISSUES_SHOWN).map((i) => ({ field, file, ...i, value: i.value })));
  }
  if (issues.length > 0) throw new DataInvalid(issues, totals);
  return { checked, skipped };
}

/** A data file's bytes (a local path or gs://bucket/object), or undefined when there is none. */
async function readData(file: string): Promise<Uint8Array | undefined> {
  if (file.startsWith('gs://')) {
    const [bucket, ...name] = file.slice('gs://'.length).split('/');
    return openStore(`gs://${bucket}`).getBytes(name.join('/'));
  }
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function valueAt(value: unknown, path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
