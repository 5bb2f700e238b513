/**
 * An hf: model an earlier run fetched into a local store (hub/models/<org>/<name>/<commit>/,
 * src/hub/fetch.ts): its tokenizer and config are on this machine, so a plan counts tokens
 * exactly without asking the Hub. A pinned commit is used only as itself; otherwise the most
 * recently fetched commit stands in for the revision (tokenizers rarely change between commits).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMIT, isHfRef, parseHfRef } from '../hub/ref';
import { fileUriToPath } from '../store/uri';

const NEEDED = ['config.json', 'tokenizer_config.json'];

export function cachedHubModel(store: string, base: string): string | undefined {
  if (!store.startsWith('file:') || !isHfRef(base)) return undefined;
  const ref = parseHfRef(base);
  const dir = path.join(fileUriToPath(store), 'hub', 'models', ref.repo);
  let commits: string[];
  try {
    commits = fs.readdirSync(dir).filter((c) => COMMIT.test(c) && NEEDED.every((f) => fs.existsSync(path.join(dir, c, f))));
  } catch {
    return undefined;
  }
  if (COMMIT.test(ref.revision)) return commits.includes(ref.revision) ? path.join(dir, ref.revision) : undefined;
  const newest = commits.sort((a, b) => fs.statSync(path.join(dir, b)).mtimeMs - fs.statSync(path.join(dir, a)).mtimeMs)[0];
  return newest === undefined ? undefined : path.join(dir, newest);
}
