/**
 * Store keys are '/'-separated and relative to the root. A key that climbs
 * out of the root ('..') or is absolute would let a bad job write anywhere on
 * the worker's disk, so every store checks keys here first.
 */
export class StoreKeyInvalid extends Error {
  readonly name = 'StoreKeyInvalid';
  constructor(readonly key: string, reason: string) {
    super(`store key ${JSON.stringify(key)} is invalid: ${reason}`);
  }
}

/** Validates a key (or a prefix, which may be empty) and strips a trailing '/'. */
export function normaliseKey(key: string, opts: { allowEmpty?: boolean } = {}): string {
  const trimmed = key.replace(/\/+$/, '');
  if (trimmed === '') {
    if (opts.allowEmpty) return '';
    throw new StoreKeyInvalid(key, 'it is empty');
  }
  if (trimmed.startsWith('/')) throw new StoreKeyInvalid(key, 'keys are relative to the store root; drop the leading /');
  if (trimmed.includes('\\')) throw new StoreKeyInvalid(key, 'use / as the separator');
  for (const part of trimmed.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw new StoreKeyInvalid(key, `segment ${JSON.stringify(part)} is not allowed`);
    }
  }
  return trimmed;
}

/** Joins a prefix and a relative key, either of which may be empty. */
export function joinKey(prefix: string, rest: string): string {
  if (prefix === '') return rest;
  if (rest === '') return prefix;
  return `${prefix}/${rest}`;
}
