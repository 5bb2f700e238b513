/**
 * secret:gcp: references on the worker: the official Secret Manager client
 * against the fake REST API (test/support/fakeSecretManager.ts), its answers
 * and refusals as named errors that carry the reference and the fix, never a value.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { crc32c } from '../../src/secrets/crc32c';
import { resolveSecret, SecretAccessDenied, SecretNotFound, SecretUnavailable } from '../../src/secrets/resolve';
import { startFakeSecretManager, type FakeSecretManager } from '../support/fakeSecretManager';

const CANARY = 'canary-7f3a-gcp-unit-value';
let sm: FakeSecretManager;
let env: NodeJS.ProcessEnv;

before(async () => {
  sm = await startFakeSecretManager();
  env = { FINETUNE_SECRET_MANAGER_ENDPOINT: sm.url };
});
after(() => sm?.close());

/** The error a rejected resolve gave, checked never to hold the value. */
async function refusal(field: string, ref: string): Promise<SecretUnavailable> {
  const err = await resolveSecret(field, ref, env).then(
    () => assert.fail(`${ref} resolved`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SecretUnavailable, String(err));
  assert.doesNotMatch(`${err.message} ${inspect(err)}`, /canary-7f3a/);
  return err;
}

describe('secret:gcp: references on the worker', () => {
  it('reads a version, and latest, through the official client; the value prints as [secret]', async () => {
    const v1 = sm.put('my-proj', 'hf-token', `${CANARY}-1\n`);
    sm.put('my-proj', 'hf-token', `${CANARY}-2`);
    assert.equal(v1, 'secret:gcp:projects/my-proj/secrets/hf-token/versions/1');
    const first = await resolveSecret('model.token', v1, env);
    assert.equal(first.reveal(), `${CANARY}-1`, 'the trailing newline of --data-file is dropped');
    assert.equal(first.bytes().toString(), `${CANARY}-1\n`, 'bytes() keeps the exact payload');
    assert.equal((await resolveSecret('model.token', 'secret:gcp:projects/my-proj/secrets/hf-token/versions/latest', env)).reveal(), `${CANARY}-2`);
    assert.equal(`${first} ${JSON.stringify({ first })} ${inspect(first)}`, '[secret] {"first":"[secret]"} [secret]');
    assert.ok(
      sm.accesses.every((a) => a.client === 'node'),
      JSON.stringify(sm.accesses),
    );
  });

  it('a missing secret or version is SecretNotFound, naming the reference and how to create it', async () => {
    const err = await refusal('promote.token', 'secret:gcp:projects/my-proj/secrets/nothing-here/versions/1');
    assert.ok(err instanceof SecretNotFound);
    assert.equal(err.name, 'SecretNotFound');
    assert.equal(err.field, 'promote.token');
    assert.match(err.message, /^promote\.token: secret:gcp:projects\/my-proj\/secrets\/nothing-here\/versions\/1 does not exist in Secret Manager/);
    assert.match(err.message, /gcloud secrets create nothing-here --project my-proj/);
    sm.put('my-proj', 'one-version', CANARY);
    assert.ok((await refusal('promote.token', 'secret:gcp:projects/my-proj/secrets/one-version/versions/7')) instanceof SecretNotFound);
  });

  it('a caller without secretAccessor is SecretAccessDenied, naming the role to grant', async () => {
    sm.put('my-proj', 'webhook-key', CANARY);
    sm.deny('my-proj', 'webhook-key');
    const err = await refusal('notify.webhooks.0.secret', 'secret:gcp:projects/my-proj/secrets/webhook-key/versions/latest');
    assert.ok(err instanceof SecretAccessDenied);
    assert.equal(err.name, 'SecretAccessDenied');
    assert.match(err.message, /the worker may not read secret:gcp:projects\/my-proj\/secrets\/webhook-key\/versions\/latest/);
    assert.match(err.message, /roles\/secretmanager\.secretAccessor/);
    assert.match(err.message, /gcloud secrets add-iam-policy-binding webhook-key --project my-proj/);
  });

  it('a disabled version is SecretUnavailable, saying to enable it or use another', async () => {
    sm.put('my-proj', 'rotated', CANARY);
    sm.disable('my-proj', 'rotated', 1);
    const err = await refusal('model.token', 'secret:gcp:projects/my-proj/secrets/rotated/versions/1');
    assert.equal(err.name, 'SecretUnavailable');
    assert.match(err.message, /is disabled or destroyed in Secret Manager; enable it/);
  });

  it('checks the CRC32C the fake sends as Secret Manager does (the RFC 3720 check value)', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  });
});
