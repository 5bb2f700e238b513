/**
 * A store in a local folder (file:///abs/path): the embedded default, and what
 * the local host provider's agent reads and writes. Every write lands whole
 * (temp file in the same folder + rename), so a reader on either side of the
 * contract never sees half a JSON file.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Store, StoreConflict } from './store';
import { joinKey, normaliseKey } from './keys';
import { fileUriToPath, resolveStoreUri } from './uri';
import { parseStoredJson } from './json';
import { TEMP_NAME, tempNameFor } from './temp';

export class FileStore implements Store {
  readonly uri: string;
  /** The absolute folder behind the URI. */
  readonly root: string;

  constructor(uri: string) {
    this.root = fileUriToPath(uri);
    this.uri = resolveStoreUri(uri, '/');
  }

  /** A create-only write that finds these very bytes there succeeds: it is a retry (as on gs://). */
  async putJson(key: string, value: unknown, opts: { createOnly?: boolean } = {}): Promise<void> {
    const data = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    try {
      await this.writeWhole(normaliseKey(key), (tmp) => fs.writeFile(tmp, data), opts.createOnly ?? false);
    } catch (err) {
      if (!(err instanceof StoreConflict) || !(await this.getBytes(key))?.equals(data)) throw err;
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    return parseStoredJson<T>(await this.getBytes(key), key, this.uri);
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    await this.writeWhole(normaliseKey(key), (tmp) => fs.writeFile(tmp, data), false);
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.pathOf(normaliseKey(key)));
    } catch (err) {
      // A folder is a prefix, not a key: absent, as on gs://.
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR') || isCode(err, 'EISDIR')) return undefined;
      throw err;
    }
  }

  /** True when key names a file; a folder is a prefix, not a key (as on gs://). */
  async exists(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.pathOf(normaliseKey(key)))).isFile();
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return false;
      throw err;
    }
  }

  /**
   * Keys under prefix, treated as a folder ('runs/r1' lists 'runs/r1/...',
   * never 'runs/r10/...'), sorted. An empty prefix lists the whole store.
   */
  async list(prefix: string): Promise<string[]> {
    const base = normaliseKey(prefix, { allowEmpty: true });
    const keys: string[] = [];
    await this.walk(this.pathOf(base), base, keys);
    return keys.sort();
  }

  async uploadPath(localPath: string, key: string): Promise<void> {
    const dest = normaliseKey(key);
    const stat = await fs.stat(localPath);
    if (stat.isFile()) {
      await this.writeWhole(dest, (tmp) => fs.copyFile(localPath, tmp), false);
      return;
    }
    if (!stat.isDirectory()) throw new Error(`cannot upload ${localPath}: it is neither a file nor a folder`);
    for (const rel of await filesUnder(localPath)) {
      await this.writeWhole(joinKey(dest, rel), (tmp) => fs.copyFile(path.join(localPath, rel), tmp), false);
    }
  }

  async copyPrefix(prefix: string, dest: Store, destPrefix: string): Promise<void> {
    const from = normaliseKey(prefix, { allowEmpty: true });
    const to = normaliseKey(destPrefix, { allowEmpty: true });
    for (const key of await this.list(from)) {
      const target = joinKey(to, from === '' ? key : key.slice(from.length + 1));
      if (dest instanceof FileStore) {
        // Folder to folder: stream through the kernel instead of holding model weights in memory.
        await dest.uploadPath(this.pathOf(key), target);
      } else {
        const bytes = await this.getBytes(key);
        if (bytes !== undefined) await dest.putBytes(target, bytes);
      }
    }
  }

  /** The key prefix names and every key under it. Refuses the empty prefix: wiping a whole store is never one stage's business. */
  async deletePrefix(prefix: string): Promise<void> {
    await fs.rm(this.pathOf(normaliseKey(prefix)), { recursive: true, force: true });
  }

  private pathOf(key: string): string {
    return key === '' ? this.root : path.join(this.root, ...key.split('/'));
  }

  /**
   * Writes via a temp file in the destination folder so the final step is a
   * single rename (or link) on one filesystem. Create-only uses link(), which
   * fails with EEXIST like open('wx') but also never exposes a partial file.
   */
  private async writeWhole(key: string, fill: (tmp: string) => Promise<void>, createOnly: boolean): Promise<void> {
    const final = this.pathOf(key);
    const dir = path.dirname(final);
    await fs.mkdir(dir, { recursive: true });
    const tmp = path.join(dir, tempNameFor(path.basename(final)));
    try {
      await fill(tmp);
      if (createOnly) {
        try {
          await fs.link(tmp, final);
        } catch (err) {
          if (isCode(err, 'EEXIST')) throw new StoreConflict(key);
          throw err;
        }
      } else {
        await fs.rename(tmp, final);
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private async walk(dir: string, prefix: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return;
      throw err;
    }
    for (const entry of entries) {
      if (TEMP_NAME.test(entry.name)) continue;
      const key = joinKey(prefix, entry.name);
      if (entry.isDirectory()) await this.walk(path.join(dir, entry.name), key, out);
      else if (entry.isFile()) out.push(key);
    }
  }
}

/** Every file under a local folder, as '/'-separated paths relative to it (symlinks followed). */
export async function filesUnder(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
    const stat = entry.isSymbolicLink() ? await fs.stat(path.join(root, child)) : entry;
    if (stat.isDirectory()) out.push(...(await filesUnder(root, child)));
    else if (stat.isFile()) out.push(child);
  }
  return out;
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
