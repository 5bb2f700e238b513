/**
 * Resolving a secret reference, on the worker only and inside the activity
 * that needs the value: the value never travels as an activity input or
 * output, so it never enters workflow history. The host resolves the
 * references the trainer needs itself (trainer/durable_finetune/secret_refs.py).
 */
import { inspect } from 'node:util';
import { SecretUnavailable } from './errors';
import { accessSecretVersion } from './gcp';
import { describeSecretRef, parseSecretRef, secretRefProblem } from './ref';

export { SecretAccessDenied, SecretNotFound, SecretUnavailable } from './errors';

/**
 * A secret value that prints as [secret] everywhere (String(), JSON, util.inspect,
 * logs), so an error or a log line that carries it by mistake still leaks nothing.
 */
export class Secret {
  readonly #value: Buffer;
  constructor(value: string | Uint8Array) {
    this.#value = Buffer.from(value);
  }
  /** The value as text, without the trailing newline `gcloud ... --data-file` and shells add. */
  reveal(): string {
    return this.#value.toString('utf8').trim();
  }
  /** The value's exact bytes (a binary key, e.g. the payload codec's). */
  bytes(): Buffer {
    return Buffer.from(this.#value);
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}

/**
 * The secret `text` (a reference in config field `field`) names: secret:env: from
 * `env`, secret:gcp: from Secret Manager with the worker's credentials. Refusals
 * are SecretUnavailable, SecretNotFound or SecretAccessDenied; an outage is a
 * plain error, for the activity's retry.
 */
export async function resolveSecret(field: string, text: string, env: NodeJS.ProcessEnv = process.env): Promise<Secret> {
  const ref = parseSecretRef(text);
  if (!ref) throw new SecretUnavailable(field, secretRefProblem(text) ?? 'is not a secret reference');
  if (ref.kind === 'gcp') {
    const value = await accessSecretVersion(field, ref, env);
    if (value.toString('utf8').trim() === '') throw new SecretUnavailable(field, `${describeSecretRef(ref)} is empty; add a version that holds the secret`);
    return new Secret(value);
  }
  const value = env[ref.name];
  if (value === undefined || value.trim() === '') {
    throw new SecretUnavailable(
      field,
      `${describeSecretRef(ref)} names the environment variable ${ref.name}, which is ${value === undefined ? 'not set' : 'empty'} on the worker; ` +
        `set it in the worker's environment (e.g. export ${ref.name}=... before \`finetune worker\`) and run again`,
    );
  }
  return new Secret(value.trim());
}
