/**
 * The TypeScript half of the store contract's file:// and key rules: the
 * same fixtures (test/fixtures/store/uris.json, keys.json) are read by
 * trainer/tests/test_store.py, so both stores mean the same folder by a URI
 * and refuse the same URIs and keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot, venvPython } from '../../src/paths';
import { FileStore } from '../../src/store/file';
import { StoreUriInvalid } from '../../src/store/fileUri';
import { StoreKeyInvalid, normaliseKey } from '../../src/store/keys';
import { hostKey, runKey, stageKey, type StageName } from '../../src/jobs/contract';
import { RunIdInvalid, checkHostId, checkRunId } from '../../src/jobs/runId';

const KEY_FNS = {
  run: (run: string, rest: string) => runKey(run, rest),
  host: (run: string, host: string, name: string) => hostKey(run, host, name),
  stage: (run: string, stage: string, rest: string) => stageKey(run, stage as StageName, rest),
};
import { openStore } from '../../src/store/open';
import { fileUriToPath } from '../../src/store/uri';
import { scratchDir } from '../support/scratch';

const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(projectRoot, 'test/fixtures/store', name), 'utf8'));
const uris: { means: { uri: string; folder: string }[]; refused: { uri: string; why: string }[] } = fixture('uris.json');
const keys: {
  good: { key: string; is: string }[];
  bad: string[];
  prefixes: { good: { prefix: string; is: string }[]; bad: string[] };
  run_ids: { good: string[]; bad: { id: string; why: string }[] };
  host_ids: { good: string[]; bad: string[] };
  run_keys: { good: { fn: keyof typeof KEY_FNS; args: string[]; is: string }[]; bad: { fn: keyof typeof KEY_FNS; args: string[] }[] };
} = fixture('keys.json');

test('a file:// URI names the folder its percent-decoded path names, and the store writes there', async () => {
  const root = scratchDir('store-uris-');
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
  const root = scratchDir('store-uris-');
  try {
    for (const { uri, why } of uris.refused) {
      const u = uri.replaceAll('{root}', root);
      assert.throws(
        () => openStore(u),
        (err: unknown) => {
          assert.ok(err instanceof StoreUriInvalid, `${u}: ${String(err)}`);
          assert.ok(err.message.includes(why), `${u}: "${err.message}" lacks "${why}"`);
          return true;
        },
      );
    }
    assert.deepEqual(fs.readdirSync(root), [], 'a refused URI creates nothing');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('store keys: the same ones accepted and refused as in the Python store', async () => {
  const store = new FileStore(`file://${scratchDir('store-keys-')}`);
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

test('store prefixes: only the empty one names the whole store, as in the Python store', () => {
  for (const { prefix, is } of keys.prefixes.good) assert.equal(normaliseKey(prefix, { allowEmpty: true }), is, prefix);
  for (const prefix of keys.prefixes.bad) assert.throws(() => normaliseKey(prefix, { allowEmpty: true }), StoreKeyInvalid, JSON.stringify(prefix));
});

test('run ids and host ids: the same ones accepted and refused as by the agent, each refusal saying why', () => {
  for (const id of keys.run_ids.good) assert.equal(checkRunId(id), id);
  for (const { id, why } of keys.run_ids.bad) {
    assert.throws(
      () => checkRunId(id, '--run-id'),
      (err: unknown) => {
        assert.ok(err instanceof RunIdInvalid, String(err));
        assert.ok(err.message.startsWith('--run-id ') && err.message.includes(why), `${JSON.stringify(id)}: "${err.message}" lacks "${why}"`);
        assert.doesNotMatch(err.message, /\p{Cc}/u, 'no control character is echoed');
        return true;
      },
    );
  }
  for (const id of keys.host_ids.good) assert.equal(checkHostId(id), id);
  for (const id of keys.host_ids.bad) assert.throws(() => checkHostId(id), RunIdInvalid, JSON.stringify(id));
});

test("a run's keys: built inside runs/<run id>/ or refused, as in the Python store", () => {
  for (const { fn, args, is } of keys.run_keys.good) assert.equal((KEY_FNS[fn] as (...a: string[]) => string)(...args), is);
  for (const { fn, args } of keys.run_keys.bad) {
    assert.throws(
      () => (KEY_FNS[fn] as (...a: string[]) => string)(...args),
      (err: unknown) => err instanceof RunIdInvalid || err instanceof StoreKeyInvalid,
      `${fn}(${JSON.stringify(args)})`,
    );
  }
});

/** Pieces URL parsers treat specially, so random URIs made of them probe every rule. */
const PIECES = [
  ' ',
  '%',
  '2',
  '0',
  'F',
  'E',
  'e',
  '.',
  '/',
  '/',
  '#',
  '?',
  '\\',
  'a',
  'é',
  '日',
  '\t',
  ':',
  '|',
  'C',
  '@',
  ';',
  '+',
  '%25',
  '%2e',
  '%2E',
  '%C3%A9',
  '%00',
  '%20',
  '%2F',
  '%5C',
  '..',
  '~',
  '"',
  '<',
  '>',
  '`',
  '{',
  '}',
  '^',
  '[',
  ']',
  '%ff',
  '\u00a0',
  '\ufeff',
];

test('random file:// URIs: the Python store reads each as the same folder or refuses it, as this one does', () => {
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const heads = ['file:///', 'file:///', 'file:///', 'file:////', 'file://', 'file:/', 'file://localhost/'];
  const uris = Array.from({ length: 3000 }, () => heads[random(heads.length)] + Array.from({ length: 1 + random(8) }, () => PIECES[random(PIECES.length)]).join(''));
  const ours = uris.map((u) => {
    try {
      return fileUriToPath(u);
    } catch {
      return null;
    }
  });
  const script = [
    'import json, sys',
    'from durable_finetune.store import StoreUriInvalid, file_uri_path',
    'def read(u):',
    '    try:',
    '        return file_uri_path(u)',
    '    except StoreUriInvalid:',
    '        return None',
    'print(json.dumps([read(u) for u in json.load(sys.stdin)]))',
  ].join('\n');
  const theirs: (string | null)[] = JSON.parse(
    execFileSync(venvPython(), ['-c', script], { input: JSON.stringify(uris), env: { ...process.env, PYTHONPATH: path.join(projectRoot, 'trainer') } }).toString(),
  );
  const differ = uris.flatMap((u, i) => (ours[i] === theirs[i] ? [] : [`${JSON.stringify(u)}: ${ours[i]} vs ${theirs[i]}`]));
  assert.deepEqual(differ, []);
  assert.ok(ours.filter((p) => p !== null).length > 500, 'enough of them are accepted to compare decodings');
});
