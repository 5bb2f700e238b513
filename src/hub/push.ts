/**
 * Publishing a promoted model to a Hub model repo through the official JS
 * client: create the repo when missing (private unless asked otherwise), then
 * one commit holding every file of the model folder, files streamed from disk
 * (fs.openAsBlob: never whole in memory) over plain LFS. A repo whose head
 * already holds exactly these files is left alone (a re-promotion returns
 * that commit); a repo whose latest commit is not a durable-finetune
 * promotion is refused unless promote.overwrite says otherwise.
 */
import { createHash } from 'node:crypto';
import { createReadStream, openAsBlob, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { commitIter, createRepo, downloadFile, HubApiError, listFiles, modelInfo, type CommitOperation, type CommitProgressEvent } from '@huggingface/hub';
import type { Secret } from '../secrets/resolve';
import { filesUnder } from '../store/file';
import { CARD_RUN_KEY } from '../report/modelCard';
import { HubError, type HubEvidence, HubRepoHasOtherContent, HubShardTooLarge, HubTokenRefused, HubUnavailable } from './errors';

/** The Hub's recommended largest safetensors shard; transformers' save_pretrained shards at this size by default. */
export const MAX_SHARD_BYTES = 5 * 1000 ** 3;

export interface PushAccess {
  endpoint: string;
  /** The resolved promote.token, and the reference it came from (what errors may show). */
  token: { value: Secret; ref: string };
}

export interface PushOptions {
  /** Create a missing repo private. */
  private: boolean;
  /** Commit on top of a repo whose latest commit is not a durable-finetune promotion. */
  overwrite: boolean;
  /** The commit's title: names the run. */
  title: string;
  description?: string;
  /** The client's events (phase, per-file hashing and upload progress): the activity heartbeats on them. */
  progress?: (event: CommitProgressEvent) => void;
}

export interface PushOutcome {
  repo: string;
  commit: string;
  /** The repo's page. */
  url: string;
  /** False: the repo's head already held these exact files; nothing was uploaded. */
  committed: boolean;
  createdRepo: boolean;
}

interface LocalFile {
  path: string;
  size: number;
  sha256: string;
  /** git blob id, as the Hub lists non-LFS files. */
  blob: string;
}

/** Files that the Hub manages itself and a promotion neither compares nor deletes. */
const HUB_OWNED = new Set(['.gitattributes']);

export async function pushModelFolder(repo: string, dir: string, access: PushAccess, opts: PushOptions): Promise<PushOutcome> {
  const evidence: HubEvidence = { repo, revision: 'main', endpoint: access.endpoint };
  let last: { status: number; url: string; message?: string } | undefined;
  const tracked: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    last = res.ok ? undefined : { status: res.status, url: res.url || String(input), message: res.headers.get('X-Error-Message') ?? undefined };
    return res;
  };
  const token = access.token.value.reveal();
  const classify = (err: unknown, doing: string): HubError => {
    if (err instanceof HubError) return err;
    const ev = { ...evidence, ...(last ? { status: last.status, url: last.url } : {}) };
    const tokenRefused = (why: string) => new HubTokenRefused(ev, access.token.ref, why, 'promote.token');
    if (!(err instanceof HubApiError)) return new HubUnavailable(ev, `cannot reach the Hub while ${doing} (${err instanceof Error ? err.message : String(err)})`, 'output');
    const s = err.statusCode;
    if (s === 401) return tokenRefused('the Hub does not accept it (401: invalid or expired); create a new token with write access and put it in that variable');
    if (s === 403)
      return tokenRefused(
        `it may not write to ${repo} (403); use a token with write access to the ${repo.split('/')[0]} namespace (fine-grained tokens: write access to its repos)`,
      );
    if (s === 404 || s === 409)
      return tokenRefused(`the repo exists but this token cannot see it (${s}); use a token of an account with write access to it, or name another repo in output`);
    if (s === 412) return new HubUnavailable(ev, `someone committed to ${repo} while promoting (412)`, 'output');
    return new HubUnavailable(ev, `the Hub answered ${s} while ${doing}${last?.message ? ` (${last.message})` : ''}`, 'output');
  };
  if (!token.startsWith('hf_')) {
    throw new HubTokenRefused(
      evidence,
      access.token.ref,
      'its value does not start with hf_, so it is not a Hub access token; put a Hub write token in that variable',
      'promote.token',
    );
  }
  const params = { hubUrl: access.endpoint, accessToken: token, fetch: tracked };

  // Sizes first: an unsharded model is refused before hashing many GB.
  for (const rel of await filesUnder(dir)) {
    const { size } = await fs.stat(path.join(dir, rel));
    if (rel.endsWith('.safetensors') && size > MAX_SHARD_BYTES) throw new HubShardTooLarge(evidence, rel, size);
  }
  const local = await describeFolder(dir);

  try {
    let head: string | undefined;
    let createdRepo = false;
    try {
      head = ((await modelInfo({ name: repo, revision: 'main', additionalFields: ['sha'], ...params })) as { sha?: string }).sha;
    } catch (err) {
      if (!(err instanceof HubApiError) || (err.statusCode !== 404 && err.statusCode !== 401)) throw err;
      await createRepo({ repo, visibility: opts.private ? 'private' : 'public', ...params });
      createdRepo = true;
      head = ((await modelInfo({ name: repo, revision: 'main', additionalFields: ['sha'], ...params })) as { sha?: string }).sha;
    }
    if (!head) throw new HubUnavailable(evidence, 'the repo info has no commit sha', 'output');

    const remote = new Map<string, { oid: string; sha256?: string }>();
    for await (const entry of listFiles({ repo, revision: head, recursive: true, ...params })) {
      if (entry.type === 'file' && !HUB_OWNED.has(entry.path)) remote.set(entry.path, { oid: entry.oid ?? '', sha256: entry.lfs?.oid });
    }
    const same =
      remote.size === local.length &&
      local.every((f) => {
        const r = remote.get(f.path);
        return r !== undefined && (r.sha256 ? r.sha256 === f.sha256 : r.oid === f.blob);
      });
    const url = `${access.endpoint}/${repo}`;
    if (same) return { repo, commit: head, url, committed: false, createdRepo };
    if (remote.size > 0 && !opts.overwrite && !(await promotedByUs(repo, head, remote.has('README.md'), params))) {
      throw new HubRepoHasOtherContent({ ...evidence, revision: head }, [...remote.keys()].sort());
    }

    const operations: CommitOperation[] = [
      ...(await Promise.all(local.map(async (f) => ({ operation: 'addOrUpdate' as const, path: f.path, content: await openAsBlob(path.join(dir, f.path)) })))),
      // An earlier promotion's files this model lacks (more shards, an adapter) would mix with it.
      ...[...remote.keys()].filter((p) => !local.some((f) => f.path === p)).map((p) => ({ operation: 'delete' as const, path: p })),
    ];
    const events = commitIter({
      repo,
      title: opts.title,
      ...(opts.description ? { description: opts.description } : {}),
      operations,
      parentCommit: head,
      // Plain LFS (preupload, batch, PUT): one protocol, the one the local Hub test speaks.
      useXet: false,
      ...params,
    });
    let step = await events.next();
    for (; !step.done; step = await events.next()) opts.progress?.(step.value);
    const out = step.value;
    if (!out) throw new HubUnavailable(evidence, 'the commit call returned no commit', 'output');
    return { repo, commit: out.commit.oid, url, committed: true, createdRepo };
  } catch (err) {
    throw classify(err, 'promoting');
  }
}

/** Whether the repo's head is a durable-finetune promotion: its README.md carries the card's run key. */
async function promotedByUs(repo: string, head: string, hasReadme: boolean, params: { hubUrl: string; accessToken: string; fetch: typeof fetch }): Promise<boolean> {
  if (!hasReadme) return false;
  const blob = await downloadFile({ repo, path: 'README.md', revision: head, xet: false, ...params });
  const text = blob ? await blob.text() : '';
  const front = /^---\n([\s\S]*?)\n---/.exec(text)?.[1] ?? '';
  return new RegExp(`^${CARD_RUN_KEY}:`, 'm').test(front);
}

/** Every file under dir with its sizes and hashes, read as a stream. */
async function describeFolder(dir: string): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  for (const rel of (await filesUnder(dir)).sort()) {
    const full = path.join(dir, rel);
    const { size } = await fs.stat(full);
    const sha256 = createHash('sha256');
    const blob = createHash('sha1').update(`blob ${size}\0`);
    for await (const chunk of createReadStream(full)) {
      sha256.update(chunk as Buffer);
      blob.update(chunk as Buffer);
    }
    out.push({ path: rel.split(path.sep).join('/'), size, sha256: sha256.digest('hex'), blob: blob.digest('hex') });
  }
  return out;
}
