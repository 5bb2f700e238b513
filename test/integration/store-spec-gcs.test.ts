/** The store spec (test/fixtures/store/spec.json) on the gs:// store against the GCS emulator; test/support/storeSpec.ts runs it. */
import { Storage } from '@google-cloud/storage';
import { after, before } from 'node:test';
import { GcsStore } from '../../src/store/gcs';
import { startGcsEmulator, type GcsEmulator } from '../support/gcsEmulator';
import { describeStoreSpec } from '../support/storeSpec';

const BUCKET = 'store-spec';
let gcs: GcsEmulator;
let stores = 0;
const savedHost = process.env.STORAGE_EMULATOR_HOST;

before(async () => {
  gcs = await startGcsEmulator([BUCKET]);
  process.env.STORAGE_EMULATOR_HOST = gcs.host;
});
after(async () => {
  if (savedHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = savedHost;
  await gcs?.stop();
});

// A fresh prefix per store, in one bucket: nothing shared between cases.
describeStoreSpec('GcsStore (gs://, emulator)', async () => {
  const prefix = `spec-${++stores}`;
  const raw = new Storage().bucket(BUCKET);
  return { store: new GcsStore(`gs://${BUCKET}/${prefix}`), plant: (key, text) => raw.file(`${prefix}/${key}`).save(text) };
});
