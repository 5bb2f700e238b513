import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileStore } from '../../src/store/file';
import { GcsStore } from '../../src/store/gcs';
import { openStore } from '../../src/store/open';
import { StoreConflict } from '../../src/store/store';
import { resolveStoreUri } from '../../src/store/uri';
import { scratchDir } from '../support/scratch';

async function tempStore(): Promise<FileStore> {
  const dir = scratchDir('file-store-');
  return new FileStore(pathToFileURL(dir).href);
}

test('putJson then getJson round-trips, and a missing key reads as undefined', async () => {
  const store = await tempStore();
  await store.putJson('runs/r1/run.json', { name: 'r1', steps: [1, 2] });
  assert.deepEqual(await store.getJson('runs/r1/run.json'), { name: 'r1', steps: [1, 2] });
  assert.equal(await store.getJson('runs/r1/nothing.json'), undefined);
  assert.equal(await store.getBytes('runs/r1/run.json/below'), undefined);
  assert.equal(await store.exists('runs/r1/run.json'), true);
  assert.equal(await store.exists('runs/r1'), false, 'a folder is a prefix, not a key');
});

test('a write leaves no temp file behind', async () => {
  const store = await tempStore();
  await store.putJson('a/b.json', { v: 1 });
  await store.putBytes('a/c.bin', Buffer.from([1, 2, 3]));
  assert.deepEqual(await fs.readdir(path.join(store.root, 'a')), ['b.json', 'c.bin']);
});

test('a create-only write of an existing key throws StoreConflict and keeps the first value', async () => {
  const store = await tempStore();
  await store.putJson('s/status.json', { job_id: 'sft-1' }, { createOnly: true });
  await assert.rejects(store.putJson('s/status.json', { job_id: 'sft-2' }, { createOnly: true }), (err) => {
    assert.ok(err instanceof StoreConflict);
    assert.equal(err.key, 's/status.json');
    return true;
  });
  assert.deepEqual(await store.getJson('s/status.json'), { job_id: 'sft-1' });
  assert.deepEqual(await fs.readdir(path.join(store.root, 's')), ['status.json']);
});

test('concurrent create-only writes: exactly one wins', async () => {
  const store = await tempStore();
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.putJson('c/COMMITTED.json', { i }, { createOnly: true })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof StoreConflict));
});

test('list is recursive, relative to the root, sorted, and treats the prefix as a folder', async () => {
  const store = await tempStore();
  await store.putJson('runs/r1/a.json', 1);
  await store.putJson('runs/r1/stages/sft/progress.json', 1);
  await store.putJson('runs/r10/a.json', 1);
  assert.deepEqual(await store.list('runs/r1'), ['runs/r1/a.json', 'runs/r1/stages/sft/progress.json']);
  assert.deepEqual(await store.list('runs/r1/'), ['runs/r1/a.json', 'runs/r1/stages/sft/progress.json']);
  assert.deepEqual(await store.list(''), ['runs/r1/a.json', 'runs/r1/stages/sft/progress.json', 'runs/r10/a.json']);
  assert.deepEqual(await store.list('runs/none'), []);
});

test('keys that climb out of the root are refused', async () => {
  const store = await tempStore();
  await assert.rejects(store.putJson('../escape.json', 1), /StoreKeyInvalid|invalid/);
  await assert.rejects(store.getBytes('/etc/passwd'), /relative to the store root/);
  await assert.rejects(store.deletePrefix(''), /empty/);
});

test('uploadPath copies a file or a whole folder tree', async () => {
  const store = await tempStore();
  const src = scratchDir('upload-src-');
  await fs.mkdir(path.join(src, 'sub'));
  await fs.writeFile(path.join(src, 'config.json'), '{}');
  await fs.writeFile(path.join(src, 'sub', 'w.safetensors'), 'weights');
  await store.uploadPath(src, 'runs/r1/inputs/base-model');
  await store.uploadPath(path.join(src, 'config.json'), 'runs/r1/one.json');
  assert.deepEqual(await store.list('runs/r1'), ['runs/r1/inputs/base-model/config.json', 'runs/r1/inputs/base-model/sub/w.safetensors', 'runs/r1/one.json']);
  assert.equal((await store.getBytes('runs/r1/inputs/base-model/sub/w.safetensors'))?.toString(), 'weights');
});

test('copyPrefix copies every key under the prefix to another store, and deletePrefix removes them', async () => {
  const from = await tempStore();
  const to = await tempStore();
  await from.putJson('runs/r1/stages/dpo/output/model/config.json', { a: 1 });
  await from.putBytes('runs/r1/stages/dpo/output/model/model.safetensors', Buffer.from('w'));
  await from.putJson('runs/r1/stages/dpo/status.json', {});
  await to.putJson('models/r1/model/stale.json', {});
  await to.deletePrefix('models/r1/model');
  await from.copyPrefix('runs/r1/stages/dpo/output/model', to, 'models/r1/model');
  assert.deepEqual(await to.list(''), ['models/r1/model/config.json', 'models/r1/model/model.safetensors']);
  await from.deletePrefix('runs/r1/stages');
  assert.deepEqual(await from.list(''), []);
  await from.deletePrefix('runs/r1/stages');
});

test('resolveStoreUri turns folders into file:/// URIs and passes URIs through', () => {
  assert.equal(resolveStoreUri('store', '/srv/app'), 'file:///srv/app/store');
  assert.equal(resolveStoreUri('../s/', '/srv/app'), 'file:///srv/s');
  assert.equal(resolveStoreUri('/data/store', '/srv/app'), 'file:///data/store');
  assert.equal(resolveStoreUri('file:///data/store/', '/srv/app'), 'file:///data/store');
  assert.equal(resolveStoreUri('gs://bucket/prefix', '/srv/app'), 'gs://bucket/prefix');
});

test('openStore opens file:/// and gs:// stores and rejects anything else with the forms it takes', () => {
  assert.ok(openStore('file:///tmp/x') instanceof FileStore);
  assert.ok(openStore('gs://bucket/p') instanceof GcsStore);
  assert.throws(() => openStore('relative/folder'), /file:\/\/\/absolute\/path/);
});
