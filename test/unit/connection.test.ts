/**
 * Connection settings for the three deployments, read from the environment
 * variables Temporal's own CLI reads (docs/operating.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporalSettings, TemporalSettingsInvalid } from '../../src/client/connection';
import { uiBaseFor } from '../../src/cli/connect';
import { scratchDir } from '../support/scratch';

function pemFiles(): { cert: string; key: string; ca: string } {
  const dir = scratchDir('finetune-tls-');
  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  return { cert: file('client.pem', 'CERT'), key: file('client.key', 'KEY'), ca: file('ca.pem', 'CA') };
}

describe('temporalSettings', () => {
  it('defaults to the embedded dev server: localhost:7233, namespace default, no TLS', () => {
    const s = temporalSettings({});
    assert.equal(s.address, 'localhost:7233');
    assert.equal(s.namespace, 'default');
    assert.deepEqual(s.connection, { address: 'localhost:7233' });
    assert.equal(uiBaseFor(s, {}), 'http://localhost:8233');
  });

  it('reaches a self-hosted cluster over plain gRPC with only TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE', () => {
    const s = temporalSettings({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'ml' });
    assert.deepEqual(s.connection, { address: 'temporal.internal:7233' });
    assert.equal(s.namespace, 'ml');
    assert.equal(uiBaseFor(s, {}), null);
    assert.equal(uiBaseFor(s, { FINETUNE_UI_URL: 'https://temporal-ui.internal' }), 'https://temporal-ui.internal');
  });

  it('uses mTLS with the cluster CA and server name for a self-hosted cluster behind TLS', () => {
    const f = pemFiles();
    const s = temporalSettings({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: f.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: f.key,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: f.ca,
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    });
    const tls = s.connection.tls as { clientCertPair: { crt: Buffer; key: Buffer }; serverRootCACertificate: Buffer; serverNameOverride: string };
    assert.equal(tls.clientCertPair.crt.toString(), 'CERT');
    assert.equal(tls.clientCertPair.key.toString(), 'KEY');
    assert.equal(tls.serverRootCACertificate.toString(), 'CA');
    assert.equal(tls.serverNameOverride, 'temporal');
    assert.equal(s.connection.apiKey, undefined);
  });

  it('turns on TLS with the system CAs for TEMPORAL_TLS=true', () => {
    assert.equal(temporalSettings({ TEMPORAL_ADDRESS: 'temporal.example.com:443', TEMPORAL_TLS: 'true' }).connection.tls, true);
  });

  it('connects to Temporal Cloud with TEMPORAL_API_KEY: TLS on, the key, and the namespace header', () => {
    const s = temporalSettings({
      TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233',
      TEMPORAL_NAMESPACE: 'finetune.a1b2c',
      TEMPORAL_API_KEY: 'secret-key',
    });
    assert.equal(s.connection.tls, true);
    assert.equal(s.connection.apiKey, 'secret-key');
    assert.deepEqual(s.connection.metadata, { 'temporal-namespace': 'finetune.a1b2c' });
    assert.equal(s.namespace, 'finetune.a1b2c');
  });

  it('connects to Temporal Cloud with an mTLS certificate instead of a key', () => {
    const f = pemFiles();
    const s = temporalSettings({
      TEMPORAL_ADDRESS: 'finetune.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'finetune.a1b2c',
      TEMPORAL_TLS_CLIENT_CERT_PATH: f.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: f.key,
    });
    assert.ok(typeof s.connection.tls === 'object' && s.connection.tls?.clientCertPair);
    assert.equal(s.connection.metadata, undefined);
  });

  it('names the missing half of a certificate pair and an unreadable file', () => {
    const f = pemFiles();
    assert.throws(
      () => temporalSettings({ TEMPORAL_TLS_CLIENT_CERT_PATH: f.cert }),
      (err: Error) => {
        assert.ok(err instanceof TemporalSettingsInvalid);
        assert.match(err.message, /TEMPORAL_TLS_CLIENT_CERT_PATH is set but TEMPORAL_TLS_CLIENT_KEY_PATH is not/);
        return true;
      },
    );
    assert.throws(
      () => temporalSettings({ TEMPORAL_TLS_CLIENT_CERT_PATH: f.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: '/no/such.key' }),
      /TEMPORAL_TLS_CLIENT_KEY_PATH=\/no\/such\.key cannot be read/,
    );
  });
});
