/**
 * Connection settings in the environment variables Temporal's own tools read,
 * so one setting serves our CLI, the worker and the `temporal` CLI alike:
 * the embedded dev server, a self-hosted cluster, or Temporal Cloud.
 */
import * as fs from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';

export interface TemporalSettings {
  address: string;
  namespace: string;
  connection: ConnectionOptions;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const address = env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const namespace = env.TEMPORAL_NAMESPACE ?? 'default';
  const certPath = env.TEMPORAL_TLS_CLIENT_CERT_PATH ?? env.TEMPORAL_TLS_CERT;
  const keyPath = env.TEMPORAL_TLS_CLIENT_KEY_PATH ?? env.TEMPORAL_TLS_KEY;
  const apiKey = env.TEMPORAL_API_KEY;
  const connection: ConnectionOptions = { address };
  if (certPath && keyPath) {
    connection.tls = { clientCertPair: { crt: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) } };
  } else if (apiKey || env.TEMPORAL_TLS === 'true') {
    connection.tls = true;
  }
  if (apiKey) {
    connection.apiKey = apiKey;
    connection.metadata = { 'temporal-namespace': namespace };
  }
  return { address, namespace, connection };
}
