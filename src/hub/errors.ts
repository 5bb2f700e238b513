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

/** The config field a Hub failure is about: the base model read, or the promoted model written (output, promote.token). */
export type HubField = 'model.base' | 'model.token' | 'output' | 'promote.token';

export abstract class HubError extends Error {
  abstract readonly name: string;
  /** False: a new attempt gives the same answer until the config or the Hub changes. */
  abstract readonly retryable: boolean;
  constructor(
    readonly field: HubField,
    message: string,
    readonly evidence: HubEvidence,
  ) {
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
        (tokenRef
          ? `the token of model.token (${tokenRef}) cannot read it; check the spelling of <org>/<name>, or give that token read access to the repo`
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
  constructor(evidence: HubEvidence, tokenRef: string, why: string, field: 'model.token' | 'promote.token' = 'model.token') {
    super(field, `${at(evidence)} refused the token of ${field} (${tokenRef}): ${why}`, evidence);
  }
}

/**
 * Promote found a repo whose latest commit is someone else's model (not a
 * durable-finetune promotion): committing on top would replace their files.
 */
export class HubRepoHasOtherContent extends HubError {
  readonly name = 'HubRepoHasOtherContent';
  readonly retryable = false;
  constructor(evidence: HubEvidence, files: string[]) {
    super(
      'output',
      `${at(evidence)} already holds files that durable-finetune did not promote (${files.slice(0, 5).join(', ')}${files.length > 5 ? `, ... ${files.length} in all` : ''}); ` +
        `its model card has no durable-finetune marker, so promoting would replace someone's model. Name another repo in output, ` +
        `or set promote.overwrite: true to commit this run on top (the repo's history keeps the earlier files)`,
      evidence,
    );
  }
}

/** A safetensors file of the promoted model is above the Hub's 5 GB shard size: it was saved unsharded. */
export class HubShardTooLarge extends HubError {
  readonly name = 'HubShardTooLarge';
  readonly retryable = false;
  constructor(evidence: HubEvidence, file: string, bytes: number) {
    super(
      'output',
      `${at(evidence)}: the promoted model's ${file} is ${(bytes / 1e9).toFixed(2)} GB, above the 5 GB a safetensors shard may be; ` +
        `save it with save_pretrained(..., max_shard_size="5GB") (the trainer's default) and promote again`,
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
  constructor(evidence: HubEvidence, what: string, field: HubField = 'model.base') {
    super(field, `${at(evidence)}: ${what}; the worker retries; if it persists, check the worker's access to ${evidence.endpoint} (HF_ENDPOINT)`, evidence);
  }
}
