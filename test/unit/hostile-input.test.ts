/**
 * Hostile input, fuzzed (fast-check): every config field given values a
 * careless or hostile user would write, every store key function given any
 * text, run ids turned into VM names. Nothing crashes, nothing lands outside
 * the store root, every refusal names its field and prints no control
 * character; the Python store (trainer/durable_finetune/store.py, runs.py)
 * accepts and refuses the same random keys and run ids.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { hostKey, runKey, stageKey, type StageName } from '../../src/jobs/contract';
import { RUN_ID_MAX, RunIdInvalid, runIdProblem } from '../../src/jobs/runId';
import { instanceName, runLabel } from '../../src/hosts/gce';
import { renderValues } from '../../src/hosts/startupScript';
import { projectRoot, venvPython } from '../../src/paths';
import { FileStore } from '../../src/store/file';
import { StoreKeyInvalid, normaliseKey } from '../../src/store/keys';
import { gceHost, remoteConfig, testConfig } from '../support/config';
import { scratchDir } from '../support/scratch';

/** What must never appear in an error line: control characters, line/paragraph separators, bidi controls. */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;
const SEED = 20261202;

/** Values a careless or hostile user writes into a config field. */
const HOSTILE: unknown[] = [
  Number.NaN,
  Infinity,
  -Infinity,
  -0,
  -1,
  0.5,
  1e308,
  2 ** 53 + 1,
  '5',
  '',
  ' ',
  'x'.repeat(5000),
  null,
  true,
  [],
  {},
  [[]],
  '\u0000\n\r\t\u001b[31mred\u007f\u0085\u2028\u202e',
  '$(touch /tmp/pwned)',
  "'; rm -rf / #",
  '../../../etc/passwd',
  '/abs/path',
  '-rf',
  'gs://bucket/../../x',
  'file:///tmp/a\nb',
  'hf:org/name\n',
  'secret:env:HF_TOKEN\u0000',
  { __proto__: { polluted: 1 } },
  { 'key\n': 1 },
];

const VALUE = fc.oneof(fc.constantFrom(...HOSTILE), fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.double(), fc.integer());

/** Every field path of a parsed config: leaves, lists and each list item, and empty mappings (records). */
function fieldPaths(value: unknown, at: string[] = []): string[][] {
  if (Array.isArray(value)) return [at, ...value.flatMap((v, i) => fieldPaths(v, [...at, String(i)]))];
  if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([k, v]) => fieldPaths(v, [...at, k]));
  }
  return [at];
}

function withValue(config: unknown, at: string[], value: unknown): unknown {
  const copy = structuredClone(config) as Record<string, unknown>;
  let parent = copy;
  for (const key of at.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
  if (value === undefined) delete parent[at[at.length - 1]];
  else parent[at[at.length - 1]] = value;
  return copy;
}

/** parseConfig's answer to a config with `value` at `at`: it parses, or each refusal is printable and one names the field. */
function checkRefusal(base: unknown, at: string[], value: unknown): void {
  const field = at.join('.');
  let err: unknown;
  try {
    parseConfig(withValue(base, at, value));
    return;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigInvalid, `${field} = ${String(value)}: ${String(err)}`);
  for (const line of err.message.split('\n')) assert.doesNotMatch(line, UNPRINTABLE, `${field}: an unprintable character in "${line}"`);
  const named = err.issues.some((i) => i.field === field || i.field.startsWith(`${field}.`) || field.startsWith(`${i.field}.`) || i.problem.includes(field));
  assert.ok(named, `${field} = ${String(value)}: no issue names it: ${err.message}`);
  for (const issue of err.issues.filter((i) => i.field === field && value !== undefined)) {
    assert.doesNotMatch(issue.problem, /^is required/, `${field} is present, so "${issue.problem}" misleads`);
  }
}

describe('every config field, given hostile values', () => {
  const bases = {
    local: parseConfig(testConfig()),
    gce: parseConfig({ ...remoteConfig('fuzz'), host: gceHost('a2-highgpu-2g'), notify: { webhooks: [{ url: 'https://hooks.example.com/x', secret: 'secret:env:HOOK' }] } }),
  };
  for (const [name, base] of Object.entries(bases)) {
    const paths = fieldPaths(base).filter((p) => p.length > 0);

    it(`${name} host: each of ${paths.length} fields is parsed or refused by name, for each hostile value`, () => {
      assert.ok(paths.length > 80, 'the walk found the fields');
      for (const at of paths) for (const value of [...HOSTILE, undefined]) checkRefusal(base, at, value);
    });

    it(`${name} host: random values in random fields are parsed or refused by name (fast-check)`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...paths), VALUE, (at, value) => checkRefusal(base, at, value)),
        { seed: SEED, numRuns: 1500 },
      );
    });
  }

  it('a wrong type is said to be one, naming what was given', () => {
    const messageOf = (patch: object) => {
      try {
        parseConfig({ ...testConfig(), ...patch });
      } catch (err) {
        return (err as Error).message;
      }
      return 'parsed';
    };
    assert.match(messageOf({ sft: { max_steps: '5' } }), /sft\.max_steps: is a string where a number belongs: write 5 without quotes \(got "5"\)/);
    assert.match(messageOf({ sft: { max_steps: Number.NaN } }), /sft\.max_steps: is NaN \(not a number\).*\(got NaN\)/);
    assert.match(messageOf({ sft: { max_steps: Infinity } }), /sft\.max_steps: is Infinity, which is not a finite number.*\(got Infinity\)/);
    assert.match(messageOf({ sft: { max_steps: 2.5 } }), /sft\.max_steps: is 2\.5, not a whole number/);
    assert.match(messageOf({ sft: { ranks: 'x' } }), /sft\.ranks: is a string that matches none of its forms: write "auto" or a number/);
    assert.match(messageOf({ name: undefined }), /name: is required: add it \(string\) \(not set\)/);
    const gce = messageOf({ host: { ...gceHost('a2\u0007\nx'), trainer_image: 'x/y' } });
    assert.match(gce, /host\.machine_type: use a GPU machine type.*\(got "a2\\u0007\\nx"\)/);
    for (const line of gce.split('\n')) assert.doesNotMatch(line, UNPRINTABLE);
  });
});

/** Pieces that stress key rules: separators, dots, escapes, controls, non-ASCII, a lone surrogate, long names. */
const KEY_PIECES = ['a', 'b', '/', '/', '.', '..', '\\', ' ', '%2e', '~', ':', 'é', '日', '\u0000', '\n', '\u007f', '\u0085', '\u202e', '\ud800', '\udc00', '😀', 'x'.repeat(120)];
const KEY = fc.oneof(
  fc.array(fc.constantFrom(...KEY_PIECES), { maxLength: 12 }).map((p) => p.join('')),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const RUN_ID = fc.oneof(fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,${RUN_ID_MAX + 5}}$`)), KEY);
const STAGE = fc.oneof(fc.constantFrom('preflight', 'sft', 'merge', 'dpo', 'generate'), KEY);

describe('store keys and the run key functions, given any text', () => {
  const inside = (root: string, key: string) => {
    const at = path.resolve(root, ...key.split('/'));
    return at.startsWith(root + path.sep);
  };

  it('a key is refused (StoreKeyInvalid) or names a file inside the store root, where the store writes it', async () => {
    const store = new FileStore(`file://${scratchDir('fuzz-keys-')}`);
    try {
      await fc.assert(
        fc.asyncProperty(KEY, async (key) => {
          let normal: string;
          try {
            normal = normaliseKey(key);
          } catch (err) {
            assert.ok(err instanceof StoreKeyInvalid, String(err));
            assert.doesNotMatch(err.message, UNPRINTABLE);
            await assert.rejects(store.putBytes(key, Buffer.from('x')), StoreKeyInvalid);
            return;
          }
          assert.ok(inside(store.root, normal), `${JSON.stringify(key)} -> ${normal}`);
          await store.putBytes(key, Buffer.from('x'));
          assert.equal(fs.readFileSync(path.join(store.root, ...normal.split('/')), 'utf8'), 'x');
          await store.deletePrefix(key);
        }),
        { seed: SEED, numRuns: 600 },
      );
      for (const prefix of ['', '/', '//', '.', '..']) {
        try {
          await store.deletePrefix(prefix);
        } catch (err) {
          assert.ok(err instanceof StoreKeyInvalid, String(err));
        }
      }
      assert.ok(fs.existsSync(store.root), 'no prefix wipes the store');
    } finally {
      fs.rmSync(store.root, { recursive: true, force: true });
    }
  });

  it('runKey, hostKey and stageKey: refused with a named error, or a key inside runs/<run id>/', () => {
    const root = path.resolve('/store-root');
    fc.assert(
      fc.property(fc.constantFrom('run', 'host', 'stage'), RUN_ID, KEY, STAGE, KEY, (fn, runId, hostId, stage, rest) => {
        let key: string;
        try {
          key = fn === 'run' ? runKey(runId, rest) : fn === 'host' ? hostKey(runId, hostId, rest) : stageKey(runId, stage as StageName, rest);
        } catch (err) {
          assert.ok(err instanceof RunIdInvalid || err instanceof StoreKeyInvalid, String(err));
          assert.doesNotMatch(err.message, UNPRINTABLE);
          assert.match(err.message, /^(run id|host id|store key) /);
          return;
        }
        assert.equal(runIdProblem(runId), undefined);
        const normal = normaliseKey(key);
        assert.ok(normal === `runs/${runId}` || (normal.startsWith(`runs/${runId}/`) && inside(path.join(root, 'runs', runId), normal.slice(6 + runId.length))), key);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('the Python store accepts and refuses the same random keys and run ids, the same way', () => {
    const keys = fc.sample(KEY, { seed: SEED, numRuns: 2000 });
    const ids = fc.sample(RUN_ID, { seed: SEED, numRuns: 2000 });
    const ours = {
      keys: keys.map((k) => {
        try {
          return normaliseKey(k);
        } catch {
          return null;
        }
      }),
      ids: ids.map((id) => runIdProblem(id) === undefined),
    };
    const script = [
      'import json, sys',
      'from durable_finetune.store import StoreKeyInvalid, check_key',
      'from durable_finetune.runs import run_id_problem',
      'def key(k):',
      '    try:',
      '        return check_key(k)',
      '    except StoreKeyInvalid:',
      '        return None',
      'd = json.load(sys.stdin)',
      'print(json.dumps({"keys": [key(k) for k in d["keys"]], "ids": [run_id_problem(i) is None for i in d["ids"]]}))',
    ].join('\n');
    // JSON carries lone surrogates as \ud800 escapes, which Python's json reads back as the same code point.
    const theirs = JSON.parse(
      execFileSync(venvPython(), ['-c', script], {
        input: JSON.stringify({ keys, ids }),
        env: { ...process.env, PYTHONPATH: path.join(projectRoot, 'trainer') },
      }).toString(),
    );
    assert.deepEqual(theirs.ids, ours.ids);
    assert.deepEqual(theirs.keys, ours.keys);
  });
});

describe('run ids as VM names and labels', () => {
  const GCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const LABEL = /^[a-z0-9_-]{0,63}$/;

  it('every valid run id makes a valid VM name, label and startup script; every other is refused', () => {
    fc.assert(
      fc.property(RUN_ID, fc.integer({ min: 1, max: 999 }), (runId, hostIndex) => {
        if (runIdProblem(runId) !== undefined) {
          assert.throws(() => instanceName(runId, hostIndex), RunIdInvalid);
          return;
        }
        assert.match(instanceName(runId, hostIndex), GCE_NAME);
        assert.match(runLabel(runId), LABEL);
        renderValues({ storeUri: 'gs://b/p', runId, hostId: `${runId}-h${hostIndex}`, trainerImage: 'img/x:1', gpus: 0 });
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('runs of one long config name started the same day get distinct VM names', () => {
    // The slug is cut to fit 63 characters, so only the hash tells these apart (24 bits gave ~12 clashes in 20000).
    const name = 'a-forty-character-config-name-for-tests';
    const ids = Array.from({ length: 20000 }, (_, i) => `${name}-20261202-${String(100000 + (i % 86400)).slice(-6)}-${i.toString(36).padStart(4, '0')}`);
    const names = new Set(ids.map((id) => instanceName(id, 1)));
    assert.equal(names.size, ids.length);
    assert.equal(new Set(ids.map(runLabel)).size, ids.length);
  });
});
