/**
 * The TypeScript half of the store contract's file:// and key rules: the
 * same fixtures (test/fixtures/store/uris.json, keys.json) are read by
 * trainer/tests/test_store.py, so both stores mean the same folder by a URI
 * and refuse the same URIs and keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { projectRoot } from '../../src/paths';
import { FileStore } from '../../src/store/file';
import { StoreUriInvalid } from '../../src/store/fileUri';
import { StoreKeyInvalid, normaliseKey } from '../../src/store/keys';
import { openStore } from '../../src/store/open';

const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(projectRoot, 'test/fixtures/store', name), 'utf8'));
const uris: { means: { uri: string; folder: string }[]; refused: { uri: string; why: string }[] } = fixture('uris.json');
const keys: { good: { key: string; is: string }[]; bad: string[] } = fixture('keys.json');

test('a file:// URI names the folder its percent-decoded path names, and the store writes there', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'store-uris-'));
  try {
    for (const { uri, folder } of uris.means) {
      const [u, f] = [uri, folder].map((s) => s.replaceAll('{root}', root));
      const store = openStore(u) as FileStore;
      assert.equal(store.root, f, u);
      await store.putJson('probe.json', { uri: u });
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(f, 'probe.json'), 'utf8')), { uri: u }, u);
      assert.equal((openStore(store.uri) as FileStore).root, f, `${u}: its canonical URI ${store.uri} names the same folder`);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a file:// URI that URL parsers could read two ways is refused, with the reason and the fix', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'store-uris-'));
  try {
    for (const { uri, why } of uris.refused) {
      const u = uri.replaceAll('{root}', root);
      assert.throws(() => openStore(u), (err: unknown) => {
        assert.ok(err instanceof StoreUriInvalid, `${u}: ${String(err)}`);
        assert.ok(err.message.includes(why), `${u}: "${err.message}" lacks "${why}"`);
        return true;
      });
    }
    assert.deepEqual(fs.readdirSync(root), [], 'a refused URI creates nothing');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('store keys: the same ones accepted and refused as in the Python store', async () => {
  const store = new FileStore(`file://${fs.mkdtempSync(path.join(os.tmpdir(), 'store-keys-'))}`);
  try {
    for (const { key, is } of keys.good) {
      assert.equal(normaliseKey(key), is, key);
      await store.putBytes(path.posix.join(key, 'x'), Buffer.from('1'));
      assert.equal(fs.existsSync(path.join(store.root, ...is.split('/'), 'x')), true, key);
    }
    for (const key of keys.bad) {
      assert.throws(() => normaliseKey(key), StoreKeyInvalid, JSON.stringify(key));
      await assert.rejects(store.putBytes(key, Buffer.from('1')), StoreKeyInvalid, JSON.stringify(key));
    }
  } finally {
    fs.rmSync(store.root, { recursive: true, force: true });
  }
});
