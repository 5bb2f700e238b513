/**
 * The `hf:<org>/<name>[@<revision>]` form of model.base, parsed and checked
 * without a network: `finetune validate` and the workflow (which imports the
 * config schema) refuse a bad reference before anything runs. Pure.
 */

export const HF_PREFIX = 'hf:';
/** The revision a reference without `@<revision>` means, as on the Hub. */
export const DEFAULT_REVISION = 'main';

export interface HfRef {
  /** `<org>/<name>`, as the Hub spells it. */
  repo: string;
  /** What the config asked for: a branch, a tag or a commit; DEFAULT_REVISION when it named none. */
  revision: string;
}

const EXAMPLE = 'hf:Qwen/Qwen2.5-3B-Instruct or hf:Qwen/Qwen2.5-3B-Instruct@<branch, tag or commit>';

/** The Hub's own repo-name rule: letters, digits, _ . -, at most 96, starting and ending with a letter, digit or _. */
const NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;
/** A git branch or tag as the Hub accepts them (refs/pr/1 included), or a commit. */
const REVISION = /^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$/;
/** A full commit hash: the only revision that names the same bytes forever. */
export const COMMIT = /^[0-9a-f]{40}$/;

export const isHfRef = (text: string): boolean => text.startsWith(HF_PREFIX);

/** What is wrong with an `hf:` reference, as the end of "model.base: <problem>", or undefined when it is fine. */
export function hfRefProblem(text: string): string | undefined {
  const body = text.slice(HF_PREFIX.length);
  const at = body.indexOf('@');
  const repo = at < 0 ? body : body.slice(0, at);
  if (repo === '') return `names no model; use ${EXAMPLE}`;
  if (repo.startsWith('/') || repo.startsWith('.') || repo.startsWith('~')) {
    return `is a path, not a Hub model id; hf: takes <org>/<name> (${EXAMPLE}); for a folder on the worker write its path without hf:`;
  }
  const parts = repo.split('/');
  if (parts.length === 1) return `names no organisation; a Hub model id is <org>/<name>, e.g. openai-community/gpt2 (${EXAMPLE})`;
  if (parts.length > 2) return `has ${parts.length} parts; a Hub model id is exactly <org>/<name> (${EXAMPLE})`;
  for (const [what, part] of [
    ['organisation', parts[0]],
    ['name', parts[1]],
  ] as const) {
    if (!NAME.test(part) || part.includes('--') || part.includes('..') || part.endsWith('.git')) {
      return `has the ${what} ${JSON.stringify(part)}, which is not a Hub name: use 1-96 letters, digits, _ . and -, starting and ending with a letter, digit or _, without -- or ..`;
    }
  }
  if (at < 0) return undefined;
  const revision = body.slice(at + 1);
  if (revision === '') return `ends with @ but names no revision; write @<branch, tag or commit> or drop the @ for ${DEFAULT_REVISION}`;
  if (!REVISION.test(revision) || revision.includes('..') || revision.includes('//') || /[/.]$/.test(revision) || revision.endsWith('.lock')) {
    return `has the revision ${JSON.stringify(revision)}, which no branch, tag or commit can be: use letters, digits, _ . - and /, e.g. @main, @v1.0 or a 40-hex commit`;
  }
  return undefined;
}

/** Parses a reference that hfRefProblem accepted; throws with the problem otherwise. */
export function parseHfRef(text: string): HfRef {
  const problem = isHfRef(text) ? hfRefProblem(text) : `does not start with ${HF_PREFIX}`;
  if (problem) throw new Error(`model.base ${JSON.stringify(text)} ${problem}`);
  const body = text.slice(HF_PREFIX.length);
  const at = body.indexOf('@');
  return at < 0 ? { repo: body, revision: DEFAULT_REVISION } : { repo: body.slice(0, at), revision: body.slice(at + 1) };
}

/** Where a fetched model lives in the store: one folder per repo and commit, shared by every run. */
export function hubModelKey(repo: string, commit: string): string {
  if (!COMMIT.test(commit)) throw new Error(`${JSON.stringify(commit)} is not a 40-hex commit hash`);
  return `hub/models/${repo}/${commit}`;
}
