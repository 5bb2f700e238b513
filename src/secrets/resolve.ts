/**
 * Resolving a secret reference, on the worker only and inside the activity
 * that needs the value: the value never travels as an activity input or
 * output, so it never enters workflow history.
 */
import { inspect } from 'node:util';
import { describeSecretRef, GCP_NOT_SUPPORTED, parseSecretRef, secretRefProblem } from './ref';

/** A reference that names no usable secret: unset variable, unsupported kind, malformed text. */
export class SecretUnavailable extends Error {
  readonly name = 'SecretUnavailable';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/**
 * A secret value that prints as [secret] everywhere (String(), JSON, util.inspect,
 * logs), so an error or a log line that carries it by mistake still leaks nothing.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
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

/** The secret `text` (a reference in config field `field`) names, read from env. */
export function resolveSecret(field: string, text: string, env: NodeJS.ProcessEnv = process.env): Secret {
  const ref = parseSecretRef(text);
  if (!ref) throw new SecretUnavailable(field, secretRefProblem(text) ?? 'is not a secret reference');
  if (ref.kind === 'gcp') throw new SecretUnavailable(field, `${describeSecretRef(ref)}: ${GCP_NOT_SUPPORTED}`);
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
