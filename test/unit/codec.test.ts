/**
 * The payload codec (src/client/codec): what it seals cannot be read, opens
 * with any held key, encrypts with the newest, refuses an unknown key id and
 * altered ciphertext by name, passes unsealed payloads through, and seals
 * failure messages and stack traces. Key files: their form, mode 0600, and
 * the embedded default made on first use.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { decode } from '@temporalio/common/lib/encoding';
import { decodeOptionalFailureToOptionalError, encodeErrorToFailure } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers';
import { AesGcmCodec, CodecKeyUnknown, ENCRYPTED_ENCODING, EncryptedPayloadInvalid, KEY_ID_METADATA } from '../../src/client/codec/aesGcm';
import { dataConverterOf } from '../../src/client/codec/dataConverter';
import { baseModelAttribute, runMetadata } from '../../src/client/runs';
import { testConfig } from '../support/config';
import { startFakeSecretManager } from '../support/fakeSecretManager';
import { parseConfig } from '../../src/config/parse';
import { addKeyToFile, CodecKeysInvalid, KeyRing, keyFileText, loadKeyRing, newKey, parseKeyFile, readKeyFile } from '../../src/client/codec/keys';
import { scratchDir } from '../support/scratch';

const CONFIG = { name: 'codec-test', store: 'file:///srv/secret-store', data: { sft: '/data/private/sft.jsonl' } };
const k1 = newKey();
const k2 = newKey();
const ring = (...keys: (typeof k1)[]) => new KeyRing(keys, 'a test ring');
const meta = (p: Payload, key: string) => decode(p.metadata![key]);
const tmp = () => scratchDir('finetune-codec-');

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  return fn().finally(() => {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  });
}

describe('AesGcmCodec', () => {
  it('seals a payload so neither its data nor its metadata reads, and opens it again', async () => {
    const codec = new AesGcmCodec(ring(k1));
    const plain = defaultPayloadConverter.toPayload(CONFIG);
    const [sealed] = await codec.encode([plain]);
    assert.equal(meta(sealed, METADATA_ENCODING_KEY), ENCRYPTED_ENCODING);
    assert.equal(meta(sealed, KEY_ID_METADATA), k1.id);
    assert.deepEqual(Object.keys(sealed.metadata!).sort(), [KEY_ID_METADATA, METADATA_ENCODING_KEY].sort());
    const raw = Buffer.from(sealed.data!).toString('latin1');
    for (const text of ['secret-store', '/data/private', 'json/plain']) assert.ok(!raw.includes(text), `${text} in the sealed bytes`);
    const [opened] = await codec.decode([sealed]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened), CONFIG);
    assert.equal(meta(opened, METADATA_ENCODING_KEY), 'json/plain');
  });

  it('seals the same payload differently each time (a fresh nonce)', async () => {
    const codec = new AesGcmCodec(ring(k1));
    const plain = defaultPayloadConverter.toPayload('same');
    const [a, b] = await codec.encode([plain, plain]);
    assert.notDeepEqual(Buffer.from(a.data!), Buffer.from(b.data!));
  });

  it('rotates: the newest key encrypts, an older held key still decrypts', async () => {
    const before = new AesGcmCodec(ring(k1));
    const after = new AesGcmCodec(ring(k1, k2));
    const [old] = await before.encode([defaultPayloadConverter.toPayload(CONFIG)]);
    assert.deepEqual(defaultPayloadConverter.fromPayload((await after.decode([old]))[0]), CONFIG);
    const [fresh] = await after.encode([defaultPayloadConverter.toPayload(CONFIG)]);
    assert.equal(meta(fresh, KEY_ID_METADATA), k2.id);
  });

  it('refuses a payload sealed with a key it does not hold, naming the key id and where keys come from', async () => {
    const [sealed] = await new AesGcmCodec(ring(k2)).encode([defaultPayloadConverter.toPayload(CONFIG)]);
    await assert.rejects(new AesGcmCodec(ring(k1)).decode([sealed]), (err: Error) => {
      assert.ok(err instanceof CodecKeyUnknown);
      assert.equal(err.name, 'CodecKeyUnknown');
      assert.equal(err.keyId, k2.id);
      assert.match(err.message, new RegExp(`key id ${k2.id}.*holds ${k1.id} from a test ring.*FINETUNE_CODEC_KEYS`));
      return true;
    });
  });

  it('refuses altered ciphertext, a relabelled key id and a truncated payload', async () => {
    const codec = new AesGcmCodec(ring(k1, k2));
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(CONFIG)]);
    const flipped = Buffer.from(sealed.data!);
    flipped[20] ^= 1;
    await assert.rejects(
      codec.decode([{ ...sealed, data: flipped }]),
      (err: Error) => err instanceof EncryptedPayloadInvalid && /key id .* does not authenticate/.test(err.message),
    );
    const relabelled = { ...sealed, metadata: { ...sealed.metadata, [KEY_ID_METADATA]: Buffer.from(k1.id) } };
    await assert.rejects(codec.decode([relabelled]), EncryptedPayloadInvalid);
    await assert.rejects(codec.decode([{ ...sealed, data: Buffer.from(sealed.data!).subarray(0, 10) }]), /too short/);
  });

  it('passes through payloads that are not sealed (histories from before the codec)', async () => {
    const plain = defaultPayloadConverter.toPayload(CONFIG);
    assert.deepEqual(await new AesGcmCodec(ring(k1)).decode([plain]), [plain]);
  });

  it("seals a failure's message and stack trace, and the client reads them back", async () => {
    const converter = loadDataConverter(dataConverterOf(ring(k1)));
    const failure = await encodeErrorToFailure(converter, ApplicationFailure.create({ message: 'cannot read /data/private/sft.jsonl', type: 'DataInvalid' }));
    const text = JSON.stringify(failure);
    assert.ok(!text.includes('/data/private'), text);
    assert.equal(failure.message, 'Encoded failure');
    assert.equal(decode(failure.encodedAttributes!.metadata![METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
    const error = (await decodeOptionalFailureToOptionalError(converter, failure)) as ApplicationFailure;
    assert.equal(error.message, 'cannot read /data/private/sft.jsonl');
    assert.equal(error.type, 'DataInvalid');
  });
});

describe('codec keys', () => {
  it('reads a key file; the last key is the newest', () => {
    const r = parseKeyFile(keyFileText([k1, k2]), 'test');
    assert.deepEqual(r.ids, [k1.id, k2.id]);
    assert.equal(r.newest.id, k2.id);
    assert.deepEqual(r.find(k1.id), k1.key);
  });

  it('refuses a malformed key file, naming the field and the form', () => {
    const bad = (doc: unknown, pattern: RegExp) =>
      assert.throws(
        () => parseKeyFile(JSON.stringify(doc), 'the key file k.json'),
        (e: Error) => e instanceof CodecKeysInvalid && pattern.test(e.message) && /the form is/.test(e.message),
      );
    bad({}, /in the key file k.json have no "keys" list/);
    bad({ keys: [{ id: 'a', key: Buffer.alloc(16).toString('base64') }] }, /keys\[0\]\.key \(id a\) that is not 32 bytes/);
    bad({ keys: [{ id: 'a b', key: k1.key.toString('base64') }] }, /keys\[0\]\.id that is not/);
    bad(
      {
        keys: [
          { id: 'a', key: k1.key.toString('base64') },
          { id: 'a', key: k2.key.toString('base64') },
        ],
      },
      /keys\[1\]\.id a twice/,
    );
    assert.throws(() => parseKeyFile('not json', 'x'), /are not JSON/);
  });

  it('refuses a key file that others can read, with the chmod that fixes it', () => {
    const file = path.join(tmp(), 'keys.json');
    fs.writeFileSync(file, keyFileText([k1]), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    assert.throws(() => readKeyFile(file), new RegExp(`mode 644\\); run chmod 600 ${file}`));
    fs.chmodSync(file, 0o600);
    assert.equal(readKeyFile(file).newest.id, k1.id);
  });

  it('adds a key to a file: the new one encrypts, the old ones stay', () => {
    const file = path.join(tmp(), 'keys.json');
    addKeyToFile(file, k1);
    const r = addKeyToFile(file, k2);
    assert.deepEqual(readKeyFile(file).ids, [k1.id, k2.id]);
    assert.equal(r.newest.id, k2.id);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('FINETUNE_CODEC_KEYS names the key file; an unreadable one is named', async () => {
    const file = path.join(tmp(), 'keys.json');
    addKeyToFile(file, k2);
    assert.equal((await loadKeyRing('temporal.internal:7233', { FINETUNE_CODEC_KEYS: file })).newest.id, k2.id);
    await assert.rejects(loadKeyRing('localhost:7233', { FINETUNE_CODEC_KEYS: `${file}.missing` }), /FINETUNE_CODEC_KEYS=.*missing cannot be read \(ENOENT\)/);
    await assert.rejects(loadKeyRing('localhost:7233', { FINETUNE_CODEC_KEYS: 'secret:env:KEYS' }), /is not a Secret Manager reference/);
  });

  it('FINETUNE_CODEC_KEYS=secret:gcp:... reads the key file JSON from Secret Manager (the official client, against the fake REST API)', async () => {
    const sm = await startFakeSecretManager();
    try {
      const ref = sm.put('acme-ml-prod', 'finetune-codec-keys', keyFileText([k1, k2]));
      const r = await loadKeyRing('temporal.internal:7233', { FINETUNE_CODEC_KEYS: ref, FINETUNE_SECRET_MANAGER_ENDPOINT: sm.url });
      assert.deepEqual(r.ids, [k1.id, k2.id]);
      assert.equal(r.source, ref);
      sm.deny('acme-ml-prod', 'finetune-codec-keys');
      await assert.rejects(
        loadKeyRing('temporal.internal:7233', { FINETUNE_CODEC_KEYS: ref, FINETUNE_SECRET_MANAGER_ENDPOINT: sm.url }),
        (e: Error) => e instanceof CodecKeysInvalid && /^FINETUNE_CODEC_KEYS: .*secretAccessor/.test(e.message) && !e.message.includes(k1.key.toString('base64')),
      );
    } finally {
      await sm.close();
    }
  });

  it('the embedded default makes a key file in the state folder on first use, then reuses it', async () => {
    const home = tmp();
    await withEnv({ FINETUNE_HOME: home }, async () => {
      const first = await loadKeyRing('localhost:7233', {});
      const file = path.join(home, 'codec-keys.json');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(first.source, `the key file ${file}`);
      assert.deepEqual((await loadKeyRing('127.0.0.1:7300', {})).ids, first.ids);
    });
  });

  it('a Temporal on another machine needs FINETUNE_CODEC_KEYS: a key made here would not be held by its other workers', async () => {
    await assert.rejects(
      loadKeyRing('temporal.internal:7233', {}),
      (e: Error) => e instanceof CodecKeysInvalid && /FINETUNE_CODEC_KEYS is not set and Temporal at temporal.internal:7233/.test(e.message),
    );
  });
});

describe('search attributes (not sealed by the codec)', () => {
  it('hold no path of the config: the base model is its hf: reference, or only its folder name', () => {
    assert.equal(baseModelAttribute('hf:Qwen/Qwen2.5-0.5B'), 'hf:Qwen/Qwen2.5-0.5B');
    assert.equal(baseModelAttribute('/home/ana/models/llama-3-8b/'), 'llama-3-8b');
    assert.equal(baseModelAttribute('gs://acme-models/base/llama-3-8b'), 'llama-3-8b');
    assert.equal(baseModelAttribute('file:///srv/models/m'), 'm');
    const config = parseConfig(testConfig({ model: { base: '/srv/private/base-model' } }));
    const text = JSON.stringify(runMetadata(config).typedSearchAttributes);
    for (const p of ['/srv/private', '/tmp/', 'file://']) assert.ok(!text.includes(p), `${p} in ${text}`);
  });
});
