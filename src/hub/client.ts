/**
 * The worker's side of the Hugging Face Hub, through the official JS client
 * (@huggingface/hub): resolve a revision to its commit, list the commit's
 * files, stream one file to disk while hashing it. Every failure comes out
 * as a named HubError (errors.ts). Hosts never talk to the Hub.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { downloadFile, fileDownloadInfo, HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import type { Secret } from '../secrets/resolve';
import { type HubError, type HubEvidence, HubRepoNotFound, HubRevisionNotFound, HubTokenMissing, HubTokenRefused, HubUnavailable } from './errors';
import { COMMIT, type HfRef } from './ref';

/** The Hub the worker talks to unless HF_ENDPOINT (the variable huggingface_hub reads too) names another. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export function hubEndpoint(env: NodeJS.ProcessEnv): string {
  return (env.HF_ENDPOINT?.trim() || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
}

export interface HubAccess {
  endpoint: string;
  /** The resolved model.token, and the reference it came from (what errors may show). */
  token?: { value: Secret; ref: string };
}

export interface HubFile {
  path: string;
  size: number;
  /** The git blob id; for LFS files the content's sha256 is lfsSha256. */
  oid: string;
  lfsSha256?: string;
}

export interface HubRevision {
  commit: string;
  gated: boolean;
}

/**
 * Remembers the Hub's X-Error-Code and X-Error-Message of the last failed
 * response: the JS client's HubApiError keeps only the status and body, and
 * the code is what tells a missing repo from a missing revision or a gate.
 */
class Session {
  last?: { status: number; code?: string; message?: string; url: string };
  constructor(
    readonly ref: HfRef,
    readonly access: HubAccess,
  ) {}

  readonly fetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    this.last = res.ok
      ? undefined
      : {
          status: res.status,
          code: res.headers.get('X-Error-Code') ?? undefined,
          message: res.headers.get('X-Error-Message') ?? undefined,
          url: res.url || String(input),
        };
    return res;
  };

  get params() {
    const token = this.access.token?.value.reveal();
    return { hubUrl: this.access.endpoint, fetch: this.fetch, ...(token ? { accessToken: token } : {}) };
  }

  evidence(revision = this.ref.revision): HubEvidence {
    return {
      repo: this.ref.repo,
      revision,
      endpoint: this.access.endpoint,
      ...(this.last ? { status: this.last.status, url: this.last.url, ...(this.last.code ? { errorCode: this.last.code } : {}) } : {}),
    };
  }

  /** The HubError for what the client threw. */
  classify(err: unknown, revision?: string): HubError {
    const evidence = this.evidence(revision);
    const tokenRef = this.access.token?.ref;
    if (!(err instanceof HubApiError)) {
      // A failed body stream aborts with the message alone, a failed connection with fetch's TypeError.
      return new HubUnavailable(evidence, `cannot reach the Hub (${err instanceof Error ? err.message : String(err)})`);
    }
    const code = this.last?.code;
    const status = err.statusCode;
    if (code === 'RevisionNotFound') return new HubRevisionNotFound(evidence);
    if (code === 'GatedRepo') {
      return tokenRef
        ? new HubTokenRefused(
            evidence,
            tokenRef,
            `the token's account has no access to this gated model (${status}); request access on the model's Hub page with that account, or use a token of an account that has it`,
          )
        : new HubTokenMissing(evidence);
    }
    if (code === 'RepoNotFound') return new HubRepoNotFound(evidence, tokenRef);
    if (status === 401) {
      return tokenRef
        ? new HubTokenRefused(evidence, tokenRef, 'the Hub does not accept it (401: invalid or expired); create a new read token and put it in that variable')
        : new HubRepoNotFound(evidence, undefined);
    }
    if (status === 403) {
      return tokenRef
        ? new HubTokenRefused(
            evidence,
            tokenRef,
            "it may not read this repo (403); use a token with read access to it (fine-grained tokens need read access to the repo's contents)",
          )
        : new HubTokenMissing(evidence);
    }
    return new HubUnavailable(evidence, `the Hub answered ${status}${this.last?.message ? ` (${this.last.message})` : ''}`);
  }
}

function session(ref: HfRef, access: HubAccess): Session {
  const token = access.token;
  if (token && !token.value.reveal().startsWith('hf_')) {
    // The JS client refuses such a token itself, with a TypeError that names no field.
    throw new HubTokenRefused(
      { repo: ref.repo, revision: ref.revision, endpoint: access.endpoint },
      token.ref,
      'its value does not start with hf_, so it is not a Hub access token; put a Hub read token in that variable',
    );
  }
  return new Session(ref, access);
}

/** The commit the revision names now, and whether the repo is gated. */
export async function resolveRevision(ref: HfRef, access: HubAccess): Promise<HubRevision> {
  const s = session(ref, access);
  let info;
  try {
    info = await modelInfo({ name: ref.repo, revision: ref.revision, additionalFields: ['sha'], ...s.params });
  } catch (err) {
    throw s.classify(err);
  }
  const commit = (info as { sha?: unknown }).sha;
  if (typeof commit !== 'string' || !COMMIT.test(commit)) {
    throw new HubUnavailable(s.evidence(), `the Hub's revision info has no 40-hex commit sha (got ${JSON.stringify(commit)})`);
  }
  return { commit, gated: Boolean(info.gated) };
}

/**
 * Whether this token may read the files of a gated repo, whose metadata anyone may
 * read: the Hub answers a one-byte range of config.json with the gate's verdict.
 */
export async function checkFileAccess(ref: HfRef, commit: string, access: HubAccess): Promise<void> {
  const s = session(ref, access);
  try {
    await fileDownloadInfo({ repo: ref.repo, path: 'config.json', revision: commit, ...s.params });
  } catch (err) {
    throw s.classify(err, commit);
  }
}

/** Every file of the repo at commit. */
export async function listCommitFiles(ref: HfRef, commit: string, access: HubAccess): Promise<HubFile[]> {
  const s = session(ref, access);
  const files: HubFile[] = [];
  try {
    for await (const entry of listFiles({ repo: ref.repo, revision: commit, recursive: true, ...s.params })) {
      if (entry.type !== 'file') continue;
      files.push({ path: entry.path, size: entry.size, oid: entry.oid ?? '', ...(entry.lfs ? { lfsSha256: entry.lfs.oid } : {}) });
    }
  } catch (err) {
    throw s.classify(err, commit);
  }
  return files;
}

/**
 * Streams one file of the commit to dest (never whole in memory) and checks
 * it against the listing: size, and the LFS sha256 or the git blob id.
 * Returns its sha256 for the store's marker.
 */
export async function downloadCommitFile(ref: HfRef, commit: string, file: HubFile, access: HubAccess, dest: string, progress?: (bytes: number) => void): Promise<string> {
  const s = session(ref, access);
  const sha256 = createHash('sha256');
  // A git blob id is sha1("blob <size>\0" + content): checkable for the small non-LFS files.
  const gitSha1 = createHash('sha1').update(`blob ${file.size}\0`);
  let size = 0;
  try {
    // xet off: plain HTTP resolve (the Hub redirects to its CDN) is one code path, the one tested here.
    const blob = await downloadFile({ repo: ref.repo, path: file.path, revision: commit, xet: false, ...s.params });
    if (!blob) throw new HubUnavailable(s.evidence(commit), `${file.path} is listed in commit ${commit} but the Hub cannot find it`);
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        sha256.update(chunk);
        gitSha1.update(chunk);
        progress?.(size);
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(blob.stream() as WebReadableStream), hashing, createWriteStream(dest));
  } catch (err) {
    if (err instanceof HubUnavailable) throw err;
    throw s.classify(err, commit);
  }
  const sha = sha256.digest('hex');
  const intact = size === file.size && (file.lfsSha256 ? sha === file.lfsSha256 : gitSha1.digest('hex') === file.oid);
  if (!intact) {
    throw new HubUnavailable(
      s.evidence(commit),
      `${file.path} arrived corrupted (${size} bytes, sha256 ${sha}; the commit lists ${file.size} bytes, ${file.lfsSha256 ? `sha256 ${file.lfsSha256}` : `blob ${file.oid}`})`,
    );
  }
  return sha;
}
