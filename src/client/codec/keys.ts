/**
 * The keys of the payload codec: a key ring (several keys, so keys rotate:
 * the newest encrypts, any held key decrypts), read from FINETUNE_CODEC_KEYS
 * (a key file, mode 0600, or a secret:gcp: reference whose value is that
 * file's JSON), or, on the embedded default, from a key file made on first
 * use in the state folder. Key file:
 *
 *   {"keys": [{"id": "k-20261202-1a2b", "key": "<32 bytes, base64>"}, ...]}   (last = newest)
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../../log';
import { stateDir } from '../../paths';
import { describeSecretRef, parseSecretRef } from '../../secrets/ref';
import { resolveSecret, SecretUnavailable } from '../../secrets/resolve';

export interface CodecKey {
  id: string;
  key: Buffer;
}

/** FINETUNE_CODEC_KEYS, or the key file of the embedded default. */
export const KEYS_VARIABLE = 'FINETUNE_CODEC_KEYS';
export const DEFAULT_KEY_FILE = 'codec-keys.json';
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The codec's keys cannot be read or are not a valid key ring; names the source, the field and the fix. */
export class CodecKeysInvalid extends Error {
  readonly name = 'CodecKeysInvalid';
}

export class KeyRing {
  readonly #byId: Map<string, Buffer>;
  constructor(
    readonly keys: readonly CodecKey[],
    /** Where the keys came from, as an error may show it (a path or a secret reference, never a key). */
    readonly source: string,
  ) {
    this.#byId = new Map(keys.map((k) => [k.id, k.key]));
  }
  /** The key that encrypts: the last one listed. */
  get newest(): CodecKey {
    return this.keys[this.keys.length - 1];
  }
  find(id: string): Buffer | undefined {
    return this.#byId.get(id);
  }
  get ids(): string[] {
    return this.keys.map((k) => k.id);
  }
}

/** A new key, with an id that says when it was made. */
export function newKey(now = new Date()): CodecKey {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  return { id: `k-${day}-${randomBytes(3).toString('hex')}`, key: randomBytes(32) };
}

export function keyFileText(keys: readonly CodecKey[]): string {
  return `${JSON.stringify({ keys: keys.map((k) => ({ id: k.id, key: k.key.toString('base64') })) }, null, 2)}\n`;
}

/** Parses key file JSON; `source` names it in errors. */
export function parseKeyFile(text: string, source: string): KeyRing {
  const bad = (what: string): CodecKeysInvalid =>
    new CodecKeysInvalid(
      `the codec keys in ${source} ${what}; the form is {"keys": [{"id": "<letters, digits, . _ ->", "key": "<32 random bytes, base64>"}]} (docs/operating.md, Encrypted history)`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('are not JSON');
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list) || list.length === 0) throw bad('have no "keys" list, or it is empty');
  const keys: CodecKey[] = [];
  list.forEach((entry: unknown, i) => {
    const { id, key } = (entry ?? {}) as { id?: unknown; key?: unknown };
    if (typeof id !== 'string' || !KEY_ID.test(id)) throw bad(`have keys[${i}].id that is not 1-64 letters, digits, '.', '_' or '-'`);
    if (keys.some((k) => k.id === id)) throw bad(`have keys[${i}].id ${id} twice`);
    const bytes = typeof key === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(key) ? Buffer.from(key, 'base64') : null;
    if (!bytes || bytes.length !== 32) throw bad(`have keys[${i}].key (id ${id}) that is not 32 bytes in base64`);
    keys.push({ id, key: bytes });
  });
  return new KeyRing(keys, source);
}

/** Reads a key file, refusing one that others than its owner can read. */
export function readKeyFile(file: string): KeyRing {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new CodecKeysInvalid(
      `${KEYS_VARIABLE}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at the codec key file (docs/operating.md, Encrypted history)`,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new CodecKeysInvalid(`the codec key file ${file} can be read by others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 ${file}`);
  }
  return parseKeyFile(fs.readFileSync(file, 'utf8'), `the key file ${file}`);
}

/** Appends a new key (it encrypts from now on; older keys still decrypt), making the file when absent. */
export function addKeyToFile(file: string, key: CodecKey = newKey()): KeyRing {
  const old = fs.existsSync(file) ? readKeyFile(file).keys : [];
  const ring = new KeyRing([...old, key], `the key file ${file}`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, keyFileText(ring.keys), { mode: 0o600, flag: 'wx' });
  fs.renameSync(tmp, file);
  return ring;
}

/**
 * Writes `text` to `file` (mode 0600) unless it exists; true when this call made it.
 * Written aside and linked into place, so a process starting beside this one
 * sees the whole file or none, and two such processes agree on one.
 */
export function createSecretFileOnce(file: string, text: string): boolean {
  if (fs.existsSync(file)) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.unlinkSync(tmp);
  }
}

/** The embedded default's key file, made on first use. */
export function defaultKeyFile(): string {
  const file = path.join(stateDir(), DEFAULT_KEY_FILE);
  if (createSecretFileOnce(file, keyFileText([newKey()]))) {
    log().warn({ keyFile: file }, `created the payload codec key file ${file}: workflow history is encrypted with it; keep it (without it, runs' history cannot be read)`);
  }
  return file;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/;

/**
 * The key ring this process uses. Without FINETUNE_CODEC_KEYS, a Temporal on
 * this machine (the embedded default) gets the state folder's key file; any
 * other Temporal needs the keys named, since every worker and client of it must
 * hold the same ones.
 */
export async function loadKeyRing(address: string, env: NodeJS.ProcessEnv = process.env): Promise<KeyRing> {
  const source = env.FINETUNE_CODEC_KEYS?.trim();
  if (!source) {
    if (!LOOPBACK.test(address)) {
      throw new CodecKeysInvalid(
        `${KEYS_VARIABLE} is not set and Temporal at ${address} is not on this machine: every worker and client of it must hold the same codec keys; ` +
          `set ${KEYS_VARIABLE} to a key file (mode 0600) or secret:gcp:projects/<p>/secrets/<s>/versions/<n> (docs/operating.md, Encrypted history)`,
      );
    }
    return readKeyFile(defaultKeyFile());
  }
  if (source.startsWith('secret:')) {
    const ref = parseSecretRef(source);
    if (!ref || ref.kind !== 'gcp') {
      throw new CodecKeysInvalid(
        `${KEYS_VARIABLE} is not a Secret Manager reference; write secret:gcp:projects/<project>/secrets/<secret>/versions/<n|latest>, or a key file path`,
      );
    }
    let value: Buffer;
    try {
      value = (await resolveSecret(KEYS_VARIABLE, source, env)).bytes();
    } catch (err) {
      if (err instanceof SecretUnavailable) throw new CodecKeysInvalid(err.message);
      throw err;
    }
    return parseKeyFile(value.toString('utf8'), describeSecretRef(ref));
  }
  return readKeyFile(path.resolve(source));
}
