/**
 * Scratch folders for tests, removed when the test process exits: node's test runner
 * runs each test file in a process of its own, so a file's folders go with it, passed
 * or failed. FINETUNE_TEST_KEEP_DIRS=1 keeps them to look into a failure.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const keepScratch = (): boolean => Boolean(process.env.FINETUNE_TEST_KEEP_DIRS);

/** Removes a scratch folder now, unless FINETUNE_TEST_KEEP_DIRS is set. */
export function removeScratch(dir: string): void {
  if (!keepScratch()) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

const made: string[] = [];
process.on('exit', () => made.forEach(removeScratch));

/** A new folder under the system's temporary folder (`prefix` then random characters), removed at exit. */
export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
