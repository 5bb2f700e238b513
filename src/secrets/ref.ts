/**
 * Secret references: a config names where a secret lives, never the secret
 * itself, so config files, run.json and workflow history stay safe to share.
 *
 *   secret:env:<NAME>                                   an environment variable of the process that uses it
 *   secret:gcp:projects/<p>/secrets/<s>/versions/<v>    a Secret Manager version (<v>: a number or latest)
 *
 * Each is resolved only where the value is used (docs/secrets.md): the worker
 * for the control plane (resolve.ts), the host for the trainer
 * (trainer/durable_finetune/secret_refs.py, the same forms).
 * Pure: the config schema checks references with it.
 */

export type SecretRef = { kind: 'env'; name: string } | { kind: 'gcp'; project: string; secret: string; version: string };

const ENV = /^secret:env:([A-Za-z_][A-Za-z0-9_]{0,127})$/;
const GCP = /^secret:gcp:projects\/([a-z][-a-z0-9]{4,28}[a-z0-9])\/secrets\/([A-Za-z0-9_-]{1,255})\/versions\/(latest|[1-9][0-9]*)$/;

/**
 * Points both resolvers (the worker's and the host's) at another Secret Manager endpoint
 * (http://host:port: a local stand-in, sent no credentials); a gce host's agent gets it too.
 */
export const SECRET_MANAGER_ENDPOINT_ENV = 'FINETUNE_SECRET_MANAGER_ENDPOINT';

export const SECRET_REF_FORMS = 'secret:env:<NAME> (an environment variable) or secret:gcp:projects/<project>/secrets/<secret>/versions/<n|latest> (Secret Manager)';

/** Parses a reference; undefined when the text is not one (never echo that text: it may be the secret). */
export function parseSecretRef(text: string): SecretRef | undefined {
  const env = ENV.exec(text);
  if (env) return { kind: 'env', name: env[1] };
  const gcp = GCP.exec(text);
  if (gcp) return { kind: 'gcp', project: gcp[1], secret: gcp[2], version: gcp[3] };
  return undefined;
}

/** Why a config value cannot serve as a secret reference, or undefined when it can. */
export function secretRefProblem(text: string): string | undefined {
  const ref = parseSecretRef(text);
  if (!ref) {
    if (text.startsWith('secret:gcp:')) return 'is not a Secret Manager reference; the form is secret:gcp:projects/<project>/secrets/<secret>/versions/<n|latest>';
    return `is not a secret reference; write ${SECRET_REF_FORMS}, e.g. secret:env:HF_TOKEN, and keep the secret itself out of the config`;
  }
  return undefined;
}

/** The Secret Manager resource name of a secret:gcp: reference (what accessSecretVersion takes). */
export function secretVersionName(ref: Extract<SecretRef, { kind: 'gcp' }>): string {
  return `projects/${ref.project}/secrets/${ref.secret}/versions/${ref.version}`;
}

/** The reference as a log or an error may show it (it holds no secret). */
export function describeSecretRef(ref: SecretRef): string {
  return ref.kind === 'env' ? `secret:env:${ref.name}` : `secret:gcp:${secretVersionName(ref)}`;
}
