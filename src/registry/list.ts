/**
 * Reading the registry: every `registry/models/*.json` record in the given
 * stores, newest promotion first. A record that is not valid JSON or does not
 * match the record's shape is skipped and reported with its URI and problem,
 * so one damaged file does not hide the others.
 */
import { hfRefProblem, isHfRef, parseHfRef } from '../hub/ref';
import type { Store } from '../store/store';
import { ModelRecord, REGISTRY_PREFIX } from './record';

export interface SkippedRecord {
  uri: string;
  problem: string;
}

export interface ModelFilter {
  /** A model.base reference: hf:<org>/<name>[@<revision or commit>], or a folder / URI compared as written. */
  base?: string;
  limit?: number;
}

export async function listModels(stores: Store[], filter: ModelFilter = {}): Promise<{ models: ModelRecord[]; skipped: SkippedRecord[] }> {
  const models: ModelRecord[] = [];
  const skipped: SkippedRecord[] = [];
  for (const store of stores) {
    for (const key of await store.list(REGISTRY_PREFIX)) {
      if (!key.endsWith('.json')) continue;
      const uri = `${store.uri.replace(/\/$/, '')}/${key}`;
      const read = readRecord((await store.getBytes(key)) ?? Buffer.alloc(0));
      if (typeof read === 'string') skipped.push({ uri, problem: read });
      else models.push(read);
    }
  }
  const matches = filter.base === undefined ? () => true : baseMatcher(filter.base);
  const newestFirst = models.filter((m) => matches(m)).sort((a, b) => Date.parse(b.promoted_at) - Date.parse(a.promoted_at) || a.run_id.localeCompare(b.run_id));
  return { models: filter.limit === undefined ? newestFirst : newestFirst.slice(0, filter.limit), skipped };
}

/** The record, or what is wrong with it. */
function readRecord(bytes: Buffer): ModelRecord | string {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return `not valid JSON (${(err as Error).message})`;
  }
  const parsed = ModelRecord.safeParse(json);
  if (parsed.success) return parsed.data;
  return parsed.error.issues.map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`).join('; ');
}

/** What is wrong with a --base filter, or undefined: an hf: reference must be one model.base could name. */
export function baseFilterProblem(base: string): string | undefined {
  return isHfRef(base) ? hfRefProblem(base) : undefined;
}

/**
 * hf:<org>/<name> matches every run trained on that repo; @<x> narrows it to the
 * revision asked for or the commit trained on (a commit prefix of 7+ hex digits
 * works, as in git). Anything else is compared with model.base as configured.
 */
function baseMatcher(base: string): (m: ModelRecord) => boolean {
  if (!isHfRef(base)) return (m) => m.base_model?.ref === base;
  const ref = parseHfRef(base);
  const pinned = base.includes('@');
  return (m) => {
    const b = m.base_model;
    if (!b?.repo || b.repo.toLowerCase() !== ref.repo.toLowerCase()) return false;
    if (!pinned) return true;
    return b.revision === ref.revision || (/^[0-9a-f]{7,40}$/.test(ref.revision) && (b.commit ?? '').startsWith(ref.revision));
  };
}
