/**
 * What can go wrong reaching a model on the Hub, each named for what
 * happened, naming the config field and the fix, with evidence (status,
 * the Hub's X-Error-Code, the URL; never a token).
 */

export interface HubEvidence {
  repo: string;
  revision: string;
  endpoint: string;
  status?: number;
  /** The Hub's X-Error-Code header (RepoNotFound, RevisionNotFound, GatedRepo, EntryNotFound). */
  errorCode?: string;
  url?: string;
}

export abstract class HubError extends Error {
  abstract readonly name: string;
  /** False: a new attempt gives the same answer until the config or the Hub changes. */
  abstract readonly retryable: boolean;
  constructor(readonly field: 'model.base' | 'model.token', message: string, readonly evidence: HubEvidence) {
    super(`${field}: ${message}`);
  }
}

const at = (e: HubEvidence): string => `hf:${e.repo}@${e.revision} on ${e.endpoint}`;

export class HubRepoNotFound extends HubError {
  readonly name = 'HubRepoNotFound';
  readonly retryable = false;
  constructor(evidence: HubEvidence, tokenRef: string | undefined) {
    super(
      'model.base',
      `${at(evidence)}: no such model repo, or it is private and ` +
        (tokenRef ? `the token of model.token (${tokenRef}) cannot read it; check the spelling of <org>/<name>, or give that token read access to the repo`
          : `model.token is not set; check the spelling of <org>/<name>, or for a private repo set model.token: secret:env:HF_TOKEN with a token that can read it`),
      evidence,
    );
  }
}

export class HubRevisionNotFound extends HubError {
  readonly name = 'HubRevisionNotFound';
  readonly retryable = false;
  constructor(evidence: HubEvidence) {
    super(
      'model.base',
      `${at(evidence)}: the repo exists but has no branch, tag or commit ${JSON.stringify(evidence.revision)}; ` +
        `fix the part after @ (a branch such as main, a tag, or a 40-hex commit from the repo's history), or drop it for main`,
      evidence,
    );
  }
}

export class HubTokenMissing extends HubError {
  readonly name = 'HubTokenMissing';
  readonly retryable = false;
  constructor(evidence: HubEvidence) {
    super(
      'model.token',
      `${at(evidence)} is gated: it needs a token and model.token is not set; accept the model's terms on its Hub page, ` +
        `create a read token, put it in an environment variable of the worker and set model.token: secret:env:<NAME> (e.g. secret:env:HF_TOKEN)`,
      evidence,
    );
  }
}

export class HubTokenRefused extends HubError {
  readonly name = 'HubTokenRefused';
  readonly retryable = false;
  constructor(evidence: HubEvidence, tokenRef: string, why: string) {
    super(
      'model.token',
      `${at(evidence)} refused the token of model.token (${tokenRef}): ${why}`,
      evidence,
    );
  }
}

/** The repo holds nothing transformers can load as a causal LM (no config.json or no weights). */
export class HubModelUnusable extends HubError {
  readonly name = 'HubModelUnusable';
  readonly retryable = false;
  constructor(evidence: HubEvidence, what: string) {
    super('model.base', `${at(evidence)} ${what}; name a transformers model repo (config.json plus *.safetensors)`, evidence);
  }
}

/** The Hub did not answer usefully (5xx, network, a corrupted download): the next attempt may succeed. */
export class HubUnavailable extends HubError {
  readonly name = 'HubUnavailable';
  readonly retryable = true;
  constructor(evidence: HubEvidence, what: string) {
    super('model.base', `${at(evidence)}: ${what}; the worker retries; if it persists, check the worker's access to ${evidence.endpoint} (HF_ENDPOINT)`, evidence);
  }
}
