/**
 * Connection settings in the environment variables Temporal's own tools read,
 * so one setting serves our CLI, the worker and the `temporal` CLI alike:
 * the embedded dev server, a self-hosted cluster, or Temporal Cloud.
 */
import * as fs from 'node:fs';
import type { ConnectionOptions, TLSConfig } from '@temporalio/client';

export interface TemporalSettings {
  address: string;
  namespace: string;
  connection: ConnectionOptions;
}

/** A TEMPORAL_* setting that cannot work, named with the fix. */
export class TemporalSettingsInvalid extends Error {
  readonly name = 'TemporalSettingsInvalid';
}

function readSetting(env: NodeJS.ProcessEnv, name: string): Buffer {
  try {
    return fs.readFileSync(env[name]!);
  } catch (err) {
    throw new TemporalSettingsInvalid(`${name}=${env[name]} cannot be read (${(err as Error).message}): fix the path`);
  }
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const address = env.TEMPORAL_ADDRESS || 'localhost:7233';
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  const certVar = env.TEMPORAL_TLS_CLIENT_CERT_PATH ? 'TEMPORAL_TLS_CLIENT_CERT_PATH' : env.TEMPORAL_TLS_CERT ? 'TEMPORAL_TLS_CERT' : null;
  const keyVar = env.TEMPORAL_TLS_CLIENT_KEY_PATH ? 'TEMPORAL_TLS_CLIENT_KEY_PATH' : env.TEMPORAL_TLS_KEY ? 'TEMPORAL_TLS_KEY' : null;
  if ((certVar === null) !== (keyVar === null)) {
    throw new TemporalSettingsInvalid(
      `${certVar ?? keyVar} is set but ${certVar ? 'TEMPORAL_TLS_CLIENT_KEY_PATH' : 'TEMPORAL_TLS_CLIENT_CERT_PATH'} is not: mTLS needs both the client certificate and its key`,
    );
  }
  const apiKey = env.TEMPORAL_API_KEY;
  const connection: ConnectionOptions = { address };
  const tls: TLSConfig = {};
  if (certVar && keyVar) tls.clientCertPair = { crt: readSetting(env, certVar), key: readSetting(env, keyVar) };
  // A self-hosted cluster's own CA, and the name its certificate was issued for.
  if (env.TEMPORAL_TLS_SERVER_CA_CERT_PATH) tls.serverRootCACertificate = readSetting(env, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  if (env.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = env.TEMPORAL_TLS_SERVER_NAME;
  if (Object.keys(tls).length > 0) connection.tls = tls;
  else if (apiKey || env.TEMPORAL_TLS === 'true') connection.tls = true;
  if (apiKey) {
    connection.apiKey = apiKey;
    connection.metadata = { 'temporal-namespace': namespace };
  }
  return { address, namespace, connection };
}
