/**
 * Temp names: a file store writes each key through a temp file in the key's folder, then
 * renames it into place (a reader never sees half a file), and a gs:// store uploads a big file
 * as parts (the trainer's parallel composite upload) before composing it. Both sides name these
 * .<name, cut to 64 characters>.tmp-<pid>-<8 hex> (trainer/durable_finetune/store.py the same),
 * every store's list() hides that form whoever is writing, and no key may take it (keys.ts), so
 * list() shows exactly the keys there are (test/fixtures/store/spec.json).
 */
import { randomBytes } from 'node:crypto';

export const TEMP_NAME = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;

/** A fresh temp name for a file named `name`; cut so it fits a filesystem's 255 bytes even when `name` does just so. */
export function tempNameFor(name: string): string {
  return `.${name.slice(0, 64)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** True when a key (or object name) has a temp name as its last segment. */
export function isTempKey(key: string): boolean {
  return TEMP_NAME.test(key.slice(key.lastIndexOf('/') + 1));
}
