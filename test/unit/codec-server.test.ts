/**
 * The codec server speaks the Temporal codec server protocol: /encode and
 * /decode round trip, a bearer token (or the browser's login cookie) is
 * required, CORS answers only the UI's origin, and a payload it cannot open
 * is refused by name. `finetune codec-server` itself: token made on first use,
 * where it is printed, and it serves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, ENCRYPTED_ENCODING } from '../../src/client/codec/aesGcm';
import { KeyRing, newKey } from '../../src/client/codec/keys';
import { startCodecServer, type RunningCodecServer } from '../../src/client/codec/server';
import { finetune, jsonOf, startFinetune, waitFor } from '../support/cli';
import { readKeyFile } from '../../src/client/codec/keys';
import { freePort } from '../support/integration';
import { scratchDir } from '../support/scratch';

const TOKEN = 'a-test-token-0123456789';
const UI = 'http://localhost:8233';
const key = newKey();
let server: RunningCodecServer;

const b64 = (s: string) => Buffer.from(s).toString('base64');
const jsonPayload = (value: unknown) => {
  const p = defaultPayloadConverter.toPayload(value);
  return { metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(p.data!).toString('base64') };
};
const post = (base: string, op: string, body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }) =>
  fetch(`${base}/${op}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers }, body: JSON.stringify(body) });

before(async () => {
  server = await startCodecServer({ codec: new AesGcmCodec(new KeyRing([key], 'test keys')), token: TOKEN, corsOrigins: [UI], host: '127.0.0.1', port: 0 });
});
after(() => server.close());

describe('codec server', () => {
  it('encodes and decodes payloads in the codec server protocol', async () => {
    const plain = jsonPayload({ store: 'file:///srv/private' });
    const enc = await post(server.url, 'encode', { payloads: [plain] });
    assert.equal(enc.status, 200);
    const sealed = ((await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads[0];
    assert.equal(sealed.metadata.encoding, b64(ENCRYPTED_ENCODING));
    assert.equal(sealed.metadata['encryption-key-id'], b64(key.id));
    assert.ok(!Buffer.from(sealed.data, 'base64').toString('latin1').includes('/srv/private'));
    const dec = await post(server.url, 'decode', { payloads: [sealed, plain] });
    assert.equal(dec.status, 200);
    assert.deepEqual(((await dec.json()) as { payloads: unknown[] }).payloads, [plain, plain]);
  });

  it('refuses a call without the token, or with a wrong one (401)', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong-token-wrong-token' }, { Authorization: TOKEN }] as Record<string, string>[]) {
      const r = await post(server.url, 'decode', { payloads: [] }, headers);
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.match(((await r.json()) as { error: string }).error, /Authorization: Bearer <token>/);
    }
  });

  it("answers the UI origin's CORS preflight, and refuses other origins", async () => {
    const pre = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: UI, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,x-namespace' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), UI);
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    assert.match(pre.headers.get('access-control-allow-headers')!, /Authorization.*Content-Type.*X-Namespace/);
    assert.match(pre.headers.get('access-control-allow-methods')!, /POST/);
    const ok = await post(server.url, 'decode', { payloads: [] }, { Authorization: `Bearer ${TOKEN}`, Origin: UI });
    assert.equal(ok.headers.get('access-control-allow-origin'), UI);
    const other = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('lets a browser log in once: the cookie then stands for the token', async () => {
    assert.equal((await fetch(`${server.url}/login?token=nope`)).status, 401);
    const login = await fetch(`${server.url}/login?token=${TOKEN}`);
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!;
    assert.match(cookie, /HttpOnly; SameSite=Strict/);
    const r = await post(server.url, 'decode', { payloads: [] }, { Cookie: cookie.split(';')[0] });
    assert.equal(r.status, 200);
  });

  it('refuses a payload it cannot open, by name, and a malformed body, naming the field', async () => {
    const other = await new AesGcmCodec(new KeyRing([newKey()], 'other keys')).encode([defaultPayloadConverter.toPayload('x')]);
    const sealed = {
      metadata: Object.fromEntries(Object.entries(other[0].metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(other[0].data!).toString('base64'),
    };
    const r = await post(server.url, 'decode', { payloads: [sealed] });
    assert.equal(r.status, 422);
    assert.match(((await r.json()) as { error: string }).error, /^CodecKeyUnknown: .*key id k-/);
    const bad = await post(server.url, 'decode', { payloads: [{ metadata: { encoding: 'not base64!' } }] });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /payloads\[0\]\.metadata\.encoding is not base64/);
    assert.equal((await post(server.url, 'decode', { payloads: 'x' })).status, 400);
    assert.equal((await post(server.url, 'decode', 'not an object')).status, 400);
    // Proto JSON leaves an empty list out: {} is no payloads (the temporal CLI's query without arguments).
    const empty = await post(server.url, 'encode', {});
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), { payloads: [] });
  });
});

describe('finetune codec-server', () => {
  it('makes its token on first use (mode 0600), says where it is, and serves', async () => {
    const home = scratchDir('finetune-codec-server-');
    const port = await freePort();
    const proc = startFinetune(['codec-server', '--port', String(port)], { FINETUNE_HOME: home, TEMPORAL_ADDRESS: '', FINETUNE_CODEC_KEYS: '', FINETUNE_CODEC_TOKEN: '' });
    try {
      const out = await waitFor('the codec server to start', 30_000, async () => (proc.output().stdout.includes('codec server at') ? proc.output().stdout : null));
      const tokenFile = path.join(home, 'codec-token');
      assert.match(out, new RegExp(`bearer token: in ${tokenFile}`));
      assert.match(out, new RegExp(`keys from the key file ${path.join(home, 'codec-keys.json')}`));
      assert.match(out, new RegExp(`--codec-endpoint http://127.0.0.1:${port} --codec-auth "Bearer \\$\\(cat ${tokenFile}\\)"`));
      assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600);
      const token = fs.readFileSync(tokenFile, 'utf8').trim();
      assert.ok(!out.includes(token), 'the token itself is never printed');
      const r = await post(`http://127.0.0.1:${port}`, 'encode', { payloads: [jsonPayload('hi')] }, { Authorization: `Bearer ${token}` });
      assert.equal(r.status, 200);
      assert.equal((await post(`http://127.0.0.1:${port}`, 'encode', { payloads: [] }, {})).status, 401);
    } finally {
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0);
    }
  });
});

describe('finetune codec-key add', () => {
  it('rotates: appends a new key (the newest encrypts), making the key file when absent', async () => {
    const home = scratchDir('finetune-codec-key-');
    const env = { FINETUNE_HOME: home, FINETUNE_CODEC_KEYS: '' };
    const first = jsonOf<{ file: string; keyId: string; keyIds: string[] }>(await finetune(['codec-key', 'add', '--json'], env));
    assert.equal(first.file, path.join(home, 'codec-keys.json'));
    const second = jsonOf<{ keyId: string; keyIds: string[] }>(await finetune(['codec-key', 'add', '--json'], env));
    assert.deepEqual(second.keyIds, [first.keyId, second.keyId]);
    const ring = readKeyFile(first.file);
    assert.equal(ring.newest.id, second.keyId);
    const gcp = await finetune(['codec-key', 'add'], { ...env, FINETUNE_CODEC_KEYS: 'secret:gcp:projects/acme-ml/secrets/codec/versions/2' });
    assert.equal(gcp.code, 2);
    assert.match(gcp.stderr, /add a Secret Manager version instead/);
  });
});
