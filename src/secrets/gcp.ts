/**
 * Reading one Secret Manager version on the worker, through the official
 * client (@google-cloud/secret-manager) with the worker's Google credentials
 * (Application Default Credentials). FINETUNE_SECRET_MANAGER_ENDPOINT
 * (http://host:port) points it at a stand-in speaking the same REST protocol
 * (test/support/fakeSecretManager.ts); an http: endpoint is local, so no
 * credentials are sent to it.
 */
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { noAuth } from '../google/noAuth';
import { crc32c } from './crc32c';
import { SecretAccessDenied, SecretNotFound, SecretUnavailable } from './errors';
import { describeSecretRef, SECRET_MANAGER_ENDPOINT_ENV, secretVersionName, type SecretRef } from './ref';

type GcpRef = Extract<SecretRef, { kind: 'gcp' }>;

const clients = new Map<string, SecretManagerServiceClient>();

function clientFor(env: NodeJS.ProcessEnv): SecretManagerServiceClient {
  const endpoint = env[SECRET_MANAGER_ENDPOINT_ENV] ?? '';
  let client = clients.get(endpoint);
  if (!client) {
    client = new SecretManagerServiceClient(endpoint ? endpointOptions(endpoint) : { fallback: true });
    clients.set(endpoint, client);
  }
  return client;
}

function endpointOptions(endpoint: string): ConstructorParameters<typeof SecretManagerServiceClient>[0] {
  const url = new URL(endpoint);
  const local = url.protocol === 'http:';
  return {
    apiEndpoint: url.hostname,
    port: Number(url.port) || (local ? 80 : 443),
    protocol: url.protocol.replace(':', ''),
    fallback: true,
    ...(local ? { authClient: noAuth() as never } : {}),
  } as never;
}

/** gRPC status codes the REST fallback maps Google's error JSON to. */
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const FAILED_PRECONDITION = 9;
const UNAUTHENTICATED = 16;

/**
 * The payload of `ref` (in config field `field`), its CRC32C checked. A refusal
 * is a SecretUnavailable (or subclass); an outage or a damaged payload is a
 * plain error, for the caller's retry.
 */
export async function accessSecretVersion(field: string, ref: GcpRef, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const shown = describeSecretRef(ref);
  let response;
  try {
    [response] = await clientFor(env).accessSecretVersion({ name: secretVersionName(ref) });
  } catch (err) {
    throw refusalOf(field, err as { code?: number; message?: string }, ref, shown) ?? err;
  }
  const data = Buffer.from(response.payload?.data ?? []);
  const sent = response.payload?.dataCrc32c;
  if (sent !== undefined && sent !== null && Number(sent) !== crc32c(data)) {
    // Damaged on the way: transient, so the caller's retry reads it again.
    throw new Error(`${shown}: the payload Secret Manager sent does not match its CRC32C; read again`);
  }
  return data;
}

function refusalOf(field: string, err: { code?: number; message?: string }, ref: GcpRef, shown: string): SecretUnavailable | undefined {
  switch (err.code) {
    case NOT_FOUND:
      return new SecretNotFound(
        field,
        `${shown} does not exist in Secret Manager (no secret ${ref.secret} in project ${ref.project}, or no version ${ref.version}); ` +
          `create it (gcloud secrets create ${ref.secret} --project ${ref.project}, then gcloud secrets versions add ${ref.secret} --project ${ref.project} --data-file=<file>) or fix the reference`,
      );
    case PERMISSION_DENIED:
      return new SecretAccessDenied(
        field,
        `the worker may not read ${shown} (Secret Manager: permission denied, or the secret does not exist); ` +
          `grant the worker's service account roles/secretmanager.secretAccessor on it: gcloud secrets add-iam-policy-binding ${ref.secret} --project ${ref.project} ` +
          `--member serviceAccount:<the worker's service account> --role roles/secretmanager.secretAccessor`,
      );
    case UNAUTHENTICATED:
      return new SecretAccessDenied(field, `Secret Manager found no valid Google credentials of the worker for ${shown}; ${CREDENTIALS_FIX}`);
    case FAILED_PRECONDITION:
      return new SecretUnavailable(field, `${shown} is disabled or destroyed in Secret Manager; enable it (gcloud secrets versions enable) or point at another version`);
  }
  if (/default credentials/i.test(err.message ?? '')) return new SecretAccessDenied(field, `the worker has no Google credentials to read ${shown}; ${CREDENTIALS_FIX}`);
  return undefined;
}

const CREDENTIALS_FIX =
  'give the worker Application Default Credentials (run it as a service account, set GOOGLE_APPLICATION_CREDENTIALS, or gcloud auth application-default login)';
