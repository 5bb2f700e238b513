/**
 * Store keys are '/'-separated and relative to the root. A key that climbs
 * out of the root ('..') or is absolute would let a bad job write anywhere on
 * the worker's disk, so every store checks keys here first; trainer's
 * store.py check_key holds the same rules (test/fixtures/store/keys.json).
 */
import { quoted } from '../printable';
import { TEMP_NAME } from './temp';

/** A folder or file name on Linux filesystems, and a GCS object name, at most (bytes of UTF-8). */
export const MAX_SEGMENT_BYTES = 255;
export const MAX_KEY_BYTES = 1024;

export class StoreKeyInvalid extends Error {
  readonly name = 'StoreKeyInvalid';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`store key ${quoted(key)} is invalid: ${reason}`);
  }
}

/** Validates a key (or a prefix, which may be empty: only '' itself) and strips a trailing '/'. */
export function normaliseKey(key: string, opts: { allowEmpty?: boolean } = {}): string {
  if (typeof key !== 'string') throw new StoreKeyInvalid(String(key), `it is a ${typeof key}, not a string`);
  if (key === '' && opts.allowEmpty) return '';
  const trimmed = key.replace(/\/+$/, '');
  if (trimmed === '') throw new StoreKeyInvalid(key, key === '' ? 'it is empty' : 'it names the store root itself; write a key relative to it');
  // Node writes a lone surrogate as U+FFFD, so two such keys would name one file.
  if (LONE_SURROGATE.test(trimmed)) throw new StoreKeyInvalid(key, 'it is not valid Unicode (a lone surrogate)');
  const control = /\p{Cc}/u.exec(trimmed);
  if (control) throw new StoreKeyInvalid(key, `it holds a control character (U+${control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`);
  if (utf8Bytes(trimmed) > MAX_KEY_BYTES) throw new StoreKeyInvalid(key, `it is longer than ${MAX_KEY_BYTES} bytes`);
  if (trimmed.startsWith('/')) throw new StoreKeyInvalid(key, 'keys are relative to the store root; drop the leading /');
  if (trimmed.includes('\\')) throw new StoreKeyInvalid(key, 'use / as the separator');
  for (const part of trimmed.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw new StoreKeyInvalid(key, `segment ${JSON.stringify(part)} is not allowed`);
    }
    if (utf8Bytes(part) > MAX_SEGMENT_BYTES) throw new StoreKeyInvalid(key, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    if (TEMP_NAME.test(part)) throw new StoreKeyInvalid(key, `segment ${JSON.stringify(part)} has the form of a store temp file (.<name>.tmp-<pid>-<8 hex>), which list() hides`);
  }
  return trimmed;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextEncoder();
function utf8Bytes(text: string): number {
  return utf8.encode(text).length;
}

/** Joins a prefix and a relative key, either of which may be empty. */
export function joinKey(prefix: string, rest: string): string {
  if (prefix === '') return rest;
  if (rest === '') return prefix;
  return `${prefix}/${rest}`;
}
