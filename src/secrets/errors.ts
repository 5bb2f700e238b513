/**
 * Why a secret reference gave no value. Each names the config field and the
 * reference (never a value) and says the fix. Callers turn them into
 * non-retryable failures: trying again cannot create a secret or grant access.
 */

/** A reference that names no usable secret: unset variable, disabled version, malformed text, no credentials. */
export class SecretUnavailable extends Error {
  readonly name: string = 'SecretUnavailable';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Secret Manager has no such secret or version. */
export class SecretNotFound extends SecretUnavailable {
  readonly name: string = 'SecretNotFound';
}

/** Secret Manager refused the reader: its service account lacks roles/secretmanager.secretAccessor, or it has no credentials. */
export class SecretAccessDenied extends SecretUnavailable {
  readonly name: string = 'SecretAccessDenied';
}
