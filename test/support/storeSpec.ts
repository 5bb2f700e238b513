/**
 * The store spec (test/fixtures/store/spec.json, with the key rules of keys.json) as node:test
 * cases against one kind of Store. test/unit/store-spec.test.ts runs it on FileStore,
 * test/integration/store-spec-gcs.test.ts on GcsStore; trainer/tests/test_store_spec.py runs the
 * same cases on the trainer's two stores.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { projectRoot } from '../../src/paths';
import { StoreKeyInvalid } from '../../src/store/keys';
import { StoreConflict, type Store } from '../../src/store/store';
import { TEMP_NAME } from '../../src/store/temp';

interface Step {
  put?: string;
  get?: string;
  exists?: string;
  list?: string;
  delete?: string;
  put_missing_file?: string;
  no_temp_files?: true;
  json?: unknown;
  text?: string;
  create_only?: boolean;
  absent?: true;
  is?: unknown;
  fails?: 'key' | 'conflict' | 'source';
}

interface Spec {
  temp_files: { pattern: string; beside: string; hidden: string[]; listed: string[] };
  atomic: { key: string; sizes: number[]; writes: number };
  cases: { name: string; steps: Step[] }[];
}

interface Keys {
  good: { key: string; is: string }[];
  bad: string[];
  prefixes: { good: { prefix: string; is: string }[]; bad: string[] };
}

const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(projectRoot, 'test/fixtures/store', name), 'utf8')) as T;

/**
 * A store to run the spec on, empty; `folder` is a file store's root, checked for temp files.
 * `plant` writes a name past the store's key checks, as another writer would (a half-written
 * temp file on file://, a composite-upload part on gs://).
 */
export interface SpecStore {
  store: Store;
  folder?: string;
  plant(key: string, text: string): Promise<void>;
}

const FAILS = {
  key: (err: unknown) => err instanceof StoreKeyInvalid,
  conflict: (err: unknown) => err instanceof StoreConflict,
  source: (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT',
};

async function runStep(s: Step, { store, folder }: SpecStore): Promise<void> {
  if (s.put !== undefined) {
    if (s.text !== undefined) await store.putBytes(s.put, Buffer.from(s.text));
    else await store.putJson(s.put, s.json, { createOnly: s.create_only });
  } else if (s.get !== undefined) {
    if (s.absent) assert.equal(await store.getBytes(s.get), undefined);
    else if (s.text !== undefined) assert.equal((await store.getBytes(s.get))?.toString('utf8'), s.text);
    else assert.deepEqual(await store.getJson(s.get), s.json);
  } else if (s.exists !== undefined) {
    assert.equal(await store.exists(s.exists), s.is);
  } else if (s.list !== undefined) {
    assert.deepEqual(await store.list(s.list), s.is);
  } else if (s.delete !== undefined) {
    await store.deletePrefix(s.delete);
  } else if (s.put_missing_file !== undefined) {
    await store.uploadPath(path.join(os.tmpdir(), `store-spec-absent-${process.pid}`, 'w.safetensors'), s.put_missing_file);
  } else if (s.no_temp_files) {
    if (folder)
      assert.deepEqual(
        namesUnder(folder).filter((n) => TEMP_NAME.test(path.basename(n))),
        [],
      );
  } else {
    throw new Error(`spec.json: a step with no operation: ${JSON.stringify(s)}`);
  }
}

function namesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

export function describeStoreSpec(label: string, fresh: () => Promise<SpecStore>): void {
  const spec = fixture<Spec>('spec.json');
  const keys = fixture<Keys>('keys.json');

  describe(`store spec: ${label}`, () => {
    for (const c of spec.cases) {
      it(c.name, async () => {
        const h = await fresh();
        for (const [i, s] of c.steps.entries()) {
          const where = `step ${i + 1}: ${JSON.stringify(s)}`;
          try {
            if (s.fails) await assert.rejects(runStep(s, h), FAILS[s.fails], where);
            else await runStep(s, h);
          } catch (err) {
            if (err instanceof assert.AssertionError) err.message = `${where}\n${err.message}`;
            throw err;
          }
        }
      });
    }

    it('takes the keys keys.json accepts under their normal form, and refuses the others everywhere', async () => {
      for (const { key, is } of keys.good) {
        const { store } = await fresh();
        await store.putJson(key, { key });
        assert.deepEqual(await store.getJson(is), { key }, key);
        assert.deepEqual(await store.list(''), [is], key);
      }
      const { store } = await fresh();
      for (const key of keys.bad) {
        await assert.rejects(store.putJson(key, 1), StoreKeyInvalid, key);
        await assert.rejects(store.getBytes(key), StoreKeyInvalid, key);
        await assert.rejects(store.exists(key), StoreKeyInvalid, key);
      }
      for (const prefix of keys.prefixes.bad) {
        await assert.rejects(store.list(prefix), StoreKeyInvalid, prefix);
        await assert.rejects(store.deletePrefix(prefix), StoreKeyInvalid, prefix);
      }
      assert.deepEqual(await store.list(''), []);
    });

    it('hides temp names from list(), whichever side writes them', async () => {
      const { store, plant } = await fresh();
      assert.equal(TEMP_NAME.source, spec.temp_files.pattern, 'src/store/temp.ts and spec.json name temp files alike');
      const { beside, hidden, listed } = spec.temp_files;
      const dir = path.posix.dirname(beside);
      await store.putJson(beside, {});
      for (const name of [...hidden, ...listed]) await plant(`${dir}/${name}`, '{"half":');
      assert.deepEqual(await store.list('runs/r1'), [...listed.map((n) => `${dir}/${n}`), beside].sort());
    });

    it('writes whole values: a reader during rewrites sees one of them, whole', async () => {
      const { store } = await fresh();
      const { key, sizes, writes } = spec.atomic;
      const values = sizes.map((n, i) => ({ i, pad: 'x'.repeat(n) }));
      await store.putJson(key, values[0]);
      let writing = true;
      const writer = (async () => {
        for (let w = 1; w < writes; w++) await store.putJson(key, values[w % values.length]);
        writing = false;
      })();
      do {
        const got = await store.getJson<{ i: number }>(key);
        assert.deepEqual(got, values[got?.i ?? -1]);
      } while (writing);
      await writer;
    });
  });
}
