/**
 * The gs:// store through the real @google-cloud/storage client against the
 * GCS emulator (fake-gcs-server), with a fault proxy in front of it where a
 * test needs transient errors or wants to see the requests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileStore } from '../../src/store/file';
import { GcsStore } from '../../src/store/gcs';
import { openStore, StoreUnavailable } from '../../src/store/open';
import { StoreConflict } from '../../src/store/store';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { startGcsEmulator, type GcsEmulator } from '../support/gcsEmulator';
import { scratchDir } from '../support/scratch';

const BUCKET = 'finetune-it';
// File.save's retry loop waits at least 1 s per try whatever the settings; keep it at that.
const FAST_RETRY = { retryDelayMultiplier: 1.1, maxRetryDelay: 1, totalTimeout: 30 };
let gcs: GcsEmulator;
let proxy: FaultProxy;
let stores = 0;
const savedHost = process.env.STORAGE_EMULATOR_HOST;

before(async () => {
  gcs = await startGcsEmulator([BUCKET, `${BUCKET}-out`]);
  proxy = await startFaultProxy(gcs.host);
  process.env.STORAGE_EMULATOR_HOST = gcs.host;
});
after(async () => {
  if (savedHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = savedHost;
  await proxy?.close();
  await gcs?.stop();
});

/** A fresh prefix per test, direct to the emulator. */
function fresh(bucket = BUCKET): GcsStore {
  stores += 1;
  return new GcsStore(`gs://${bucket}/t${stores}/store`, { retry: FAST_RETRY });
}

/** A fresh prefix reached through the fault proxy. */
function proxied(opts: ConstructorParameters<typeof GcsStore>[1] = {}): GcsStore {
  process.env.STORAGE_EMULATOR_HOST = proxy.url;
  try {
    stores += 1;
    return new GcsStore(`gs://${BUCKET}/p${stores}`, { retry: FAST_RETRY, ...opts });
  } finally {
    process.env.STORAGE_EMULATOR_HOST = gcs.host;
  }
}

async function tempDir(name: string): Promise<string> {
  return scratchDir(`gcs-store-${name}-`);
}

describe('GcsStore on the emulator', () => {
  it('openStore maps gs:// to a GcsStore and rejects a malformed bucket', () => {
    const store = openStore(`gs://${BUCKET}/runs-root/`);
    assert.ok(store instanceof GcsStore);
    assert.equal(store.uri, `gs://${BUCKET}/runs-root`);
    assert.throws(() => openStore('gs://A_B/x'), StoreUnavailable);
  });

  it('round-trips JSON and bytes; a missing key reads as undefined; a folder is not a key', async () => {
    const store = fresh();
    await store.putJson('runs/r1/run.json', { name: 'r1', steps: [1, 2] });
    assert.deepEqual(await store.getJson('runs/r1/run.json'), { name: 'r1', steps: [1, 2] });
    assert.equal(await store.getJson('runs/r1/nothing.json'), undefined);
    assert.equal(await store.exists('runs/r1/run.json'), true);
    assert.equal(await store.exists('runs/r1'), false);
    await store.putBytes('runs/r1/w.bin', Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(await store.getBytes('runs/r1/w.bin'), Buffer.from([0, 1, 2, 255]));
    await assert.rejects(store.putJson('../escape.json', {}), /segment/);
  });

  it('lists recursively under a prefix treated as a folder, relative to the store root', async () => {
    const store = fresh();
    await store.putJson('runs/r1/a.json', 1);
    await store.putJson('runs/r1/stages/sft/progress.json', 1);
    await store.putJson('runs/r10/a.json', 1);
    assert.deepEqual(await store.list('runs/r1'), ['runs/r1/a.json', 'runs/r1/stages/sft/progress.json']);
    assert.deepEqual(await store.list(''), ['runs/r1/a.json', 'runs/r1/stages/sft/progress.json', 'runs/r10/a.json']);
  });

  it('create-only: a second write conflicts and keeps the first; of concurrent writers exactly one wins', async () => {
    const store = fresh();
    await store.putJson('c/COMMITTED.json', { step: 1 }, { createOnly: true });
    await assert.rejects(store.putJson('c/COMMITTED.json', { step: 2 }, { createOnly: true }), StoreConflict);
    assert.deepEqual(await store.getJson('c/COMMITTED.json'), { step: 1 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.putJson('d/COMMITTED.json', { i }, { createOnly: true })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof StoreConflict));
  });

  it('retries transient 503s on plain writes and reads', async () => {
    const store = proxied();
    proxy.fail(2, 503, /^POST .*\/upload\//);
    await store.putJson('runs/r/progress.json', { step: 3 });
    proxy.fail(2, 503, /^GET /);
    assert.deepEqual(await store.getJson('runs/r/progress.json'), { step: 3 });
  });

  it('a create-only write whose first answer was lost succeeds on retry instead of conflicting', async () => {
    const store = proxied();
    proxy.dropAnswers(1, /^POST .*\/upload\//);
    await store.putJson('c/COMMITTED.json', { step: 25 }, { createOnly: true });
    assert.deepEqual(await store.getJson('c/COMMITTED.json'), { step: 25 });
    const uploads = proxy.seen.filter((r) => r.method === 'POST' && r.url.includes('/upload/') && r.url.includes('ifGenerationMatch=0'));
    assert.ok(uploads.length >= 2, `the write was retried (${uploads.length} uploads seen)`);
  });

  it('uploads a folder in parallel (bounded) and large files as resumable uploads', async () => {
    const src = await tempDir('src');
    await fs.mkdir(path.join(src, 'sub'));
    const big = randomBytes(3 * 1024 * 1024 + 11);
    await fs.writeFile(path.join(src, 'model.safetensors'), big);
    for (let i = 0; i < 16; i++) await fs.writeFile(path.join(src, 'sub', `f${i}.json`), JSON.stringify({ i }));
    const store = proxied({ parallelism: 4, resumableThresholdBytes: 1024 * 1024 });
    const before = proxy.seen.length;
    await store.uploadPath(src, 'runs/r/out');
    const mine = proxy.seen.slice(before);
    assert.ok(proxy.maxInFlight > 1 && proxy.maxInFlight <= 4, `in flight at most 4, more than 1 (saw ${proxy.maxInFlight})`);
    assert.equal(mine.filter((r) => r.url.includes('uploadType=resumable')).length, 1, 'one resumable upload: the large file');
    const keys = await store.list('runs/r/out');
    assert.equal(keys.length, 17);
    assert.ok((await store.getBytes('runs/r/out/model.safetensors'))!.equals(big));
    assert.deepEqual(await store.getJson('runs/r/out/sub/f7.json'), { i: 7 });
  });

  it('copies a prefix to another bucket inside GCS and to a local folder', async () => {
    const store = fresh();
    await store.putBytes('runs/r/stages/dpo/output/model/model.safetensors', randomBytes(4096));
    await store.putJson('runs/r/stages/dpo/output/model/config.json', { a: 1 });
    const out = fresh(`${BUCKET}-out`);
    await store.copyPrefix('runs/r/stages/dpo/output/model', out, 'models/r');
    assert.deepEqual(await out.list('models/r'), ['models/r/config.json', 'models/r/model.safetensors']);
    const local = new FileStore(pathToFileURL(await tempDir('copy')).href);
    await store.copyPrefix('runs/r/stages/dpo/output/model', local, 'models/r');
    assert.deepEqual(await local.list('models/r'), ['models/r/config.json', 'models/r/model.safetensors']);
    assert.ok((await local.getBytes('models/r/model.safetensors'))!.equals((await store.getBytes('runs/r/stages/dpo/output/model/model.safetensors'))!));
  });

  it('deletes a prefix and nothing beside it; refuses the empty prefix', async () => {
    const store = fresh();
    await store.putJson('runs/r1/stages/sft/checkpoints/checkpoint-10/a.json', 1);
    await store.putJson('runs/r1/stages/sft/checkpoints/checkpoint-100/a.json', 1);
    await store.deletePrefix('runs/r1/stages/sft/checkpoints/checkpoint-10');
    assert.deepEqual(await store.list('runs/r1'), ['runs/r1/stages/sft/checkpoints/checkpoint-100/a.json']);
    await assert.rejects(store.deletePrefix(''), /empty/);
  });
});
