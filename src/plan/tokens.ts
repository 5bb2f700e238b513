/**
 * Token counts of a run's data for `finetune plan`. With the model folder on
 * this machine, trainer/durable_finetune/plan_tokens.py renders every row with
 * the model's chat template and counts it with the model's tokenizer, as the
 * stages do. A model on gs:// or the Hub is not fetched for a plan: its counts
 * are estimated from the rows' UTF-8 bytes at BYTES_PER_TOKEN, and the plan says so.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { readJsonl } from '../data/jsonl';
import { projectRoot, venvPython } from '../paths';

/**
 * Bytes of a row's JSON per token: the common rule of thumb of about 4 characters per token for
 * English text with a BPE vocabulary. JSON keys and quotes count as text here, which offsets
 * the chat template's own tokens that the bytes do not show.
 */
export const BYTES_PER_TOKEN = 4;

export interface DataRows {
  sft: Record<string, unknown>[];
  preferences: Record<string, unknown>[];
  eval: { line: number; value: Record<string, unknown> }[];
}

export interface TokenCounts {
  method: 'tokenizer' | 'bytes';
  /** The model family whose template rendered the rows (tokenizer method only). */
  family?: string;
  /** Per row, its sequences: SFT one, DPO chosen and rejected (each with the prompt). */
  sft: number[][];
  preferences: number[][];
  /** Prompt tokens of each eval item. */
  eval: number[];
}

export class PlanTokensFailed extends Error {
  readonly name = 'PlanTokensFailed';
  constructor(
    readonly model: string,
    readonly stderrTail: string,
  ) {
    super(`counting tokens with the tokenizer of ${model} failed (trainer/durable_finetune/plan_tokens.py): ${stderrTail}`);
  }
}

/** The rows of three local data files (already checked by checkDataFiles). */
export function readDataRows(files: { sft: string; preferences: string; eval: string }): DataRows {
  const rows = (file: string) => readJsonl(fs.readFileSync(file)).rows;
  return {
    sft: rows(files.sft).map((r) => r.value as Record<string, unknown>),
    preferences: rows(files.preferences).map((r) => r.value as Record<string, unknown>),
    eval: rows(files.eval).map((r) => ({ line: r.line, value: r.value as Record<string, unknown> })),
  };
}

/** Counts from the model's own tokenizer and chat template, in the project's virtualenv. */
export async function tokenizerCounts(modelDir: string, files: { sft: string; preferences: string; eval: string }): Promise<TokenCounts> {
  try {
    const { stdout } = await promisify(execFile)(venvPython(), ['-m', 'durable_finetune.plan_tokens', modelDir, files.sft, files.preferences, files.eval], {
      env: { ...process.env, PYTHONPATH: path.join(projectRoot, 'trainer') },
      maxBuffer: 256 * 1024 * 1024,
    });
    const out = JSON.parse(stdout) as { family: string; sft: number[]; preferences: number[][]; eval: number[] };
    return { method: 'tokenizer', family: out.family, sft: out.sft.map((n) => [n]), preferences: out.preferences, eval: out.eval };
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim();
    throw new PlanTokensFailed(modelDir, stderr.split('\n').slice(-3).join(' | '));
  }
}

const bytesOf = (...values: unknown[]): number => Math.ceil(values.reduce<number>((a, v) => a + Buffer.byteLength(v === undefined ? '' : JSON.stringify(v)), 0) / BYTES_PER_TOKEN);

/** Counts estimated from the rows' bytes, for a model whose tokenizer is not on this machine. */
export function byteCounts(rows: DataRows): TokenCounts {
  return {
    method: 'bytes',
    sft: rows.sft.map((r) => [bytesOf(r.messages, r.tools)]),
    preferences: rows.preferences.map((r) => [bytesOf(r.prompt, r.chosen, r.tools), bytesOf(r.prompt, r.rejected, r.tools)]),
    eval: rows.eval.map((r) => bytesOf(r.value.messages, r.value.tools)),
  };
}
