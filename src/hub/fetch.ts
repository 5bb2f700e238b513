/**
 * A Hub model in the store: `hub/models/<org>/<name>/<commit>/` holds the
 * files a host needs (select.ts), and COMMITTED.json, written last, lists
 * them with size and sha256, as a checkpoint's does. A folder without a valid
 * COMMITTED.json does not exist; one with it is never fetched again, by any
 * run. Hosts download from there and never talk to the Hub.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Store, StoreConflict } from '../store/store';
import { checkFileAccess, downloadCommitFile, type HubAccess, listCommitFiles, resolveRevision } from './client';
import { HubModelUnusable, HubTokenMissing } from './errors';
import { type HfRef, hubModelKey } from './ref';
import { selectModelFiles } from './select';

export const HUB_MARKER = 'COMMITTED.json';

export interface HubMarker {
  repo: string;
  commit: string;
  committed_at: string;
  files: { path: string; size: number; sha256: string }[];
}

/** The base model of a run, as run.json, the progress and the report record it. */
export interface HubModel {
  repo: string;
  /** What the config asked for (a branch, a tag or a commit). */
  revision: string;
  commit: string;
  /** The store prefix that holds its files (the hosts' inputs.base_model). */
  key: string;
}

export interface FetchOutcome {
  model: HubModel;
  /** False: the store already held this commit (COMMITTED.json valid), nothing was downloaded. */
  fetched: boolean;
  files: number;
  bytes: number;
}

/** The marker of key when it is valid (every file it lists is in the store), else undefined. */
export async function committedModel(store: Store, key: string): Promise<HubMarker | undefined> {
  const marker = await store.getJson<HubMarker>(`${key}/${HUB_MARKER}`);
  if (!marker || !Array.isArray(marker.files) || marker.files.length === 0) return undefined;
  const present = new Set(await store.list(key));
  return marker.files.every((f) => present.has(`${key}/${f.path}`)) ? marker : undefined;
}

/** Heartbeats of a long fetch: the file being downloaded and the bytes of the model so far. */
export type FetchProgress = (p: { file: string; bytes: number }) => void;

/**
 * Resolves ref to a commit (or takes `pinned`, the commit an earlier execution
 * of the run recorded) and makes sure the store holds that commit's files.
 */
export async function fetchHubModel(store: Store, ref: HfRef, access: HubAccess, opts: { pinned?: string; progress?: FetchProgress } = {}): Promise<FetchOutcome> {
  if (opts.pinned) {
    // A rerun loads the bytes its checkpoints were trained on, wherever the branch has moved since.
    const key = hubModelKey(ref.repo, opts.pinned);
    const marker = await committedModel(store, key);
    if (marker) return outcome({ ...ref, commit: opts.pinned, key }, marker, false);
  }
  const { commit, gated } = await resolveRevision(opts.pinned ? { ...ref, revision: opts.pinned } : ref, access);
  if (gated && !access.token) throw new HubTokenMissing({ repo: ref.repo, revision: ref.revision, endpoint: access.endpoint });
  // A gated model's terms bind each account: its bytes in the store serve only a token the gate lets through.
  if (gated) await checkFileAccess(ref, commit, access);
  const key = hubModelKey(ref.repo, commit);
  const model: HubModel = { ...ref, commit, key };
  const existing = await committedModel(store, key);
  if (existing) return outcome(model, existing, false);
  // A marker whose files are gone is replaced below; otherwise the marker is written create-only.
  const stale = await store.exists(`${key}/${HUB_MARKER}`);

  const listed = await listCommitFiles(ref, commit, access);
  const selection = selectModelFiles(listed.map((f) => f.path));
  if (selection.problem) {
    throw new HubModelUnusable({ repo: ref.repo, revision: ref.revision, endpoint: access.endpoint }, `at commit ${commit} ${selection.problem}`);
  }
  const wanted = listed.filter((f) => selection.files.includes(f.path));
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'finetune-hub-'));
  const files: HubMarker['files'] = [];
  let done = 0;
  try {
    for (const file of wanted) {
      // One file at a time through the worker's disk: a multi-GB shard never sits in memory.
      const local = path.join(tmp, 'file');
      const sha256 = await downloadCommitFile(ref, commit, file, access, local, (n) => opts.progress?.({ file: file.path, bytes: done + n }));
      done += file.size;
      await store.uploadPath(local, `${key}/${file.path}`);
      opts.progress?.({ file: file.path, bytes: done });
      await fs.rm(local, { force: true });
      files.push({ path: file.path, size: file.size, sha256 });
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  const marker: HubMarker = { repo: ref.repo, commit, committed_at: new Date().toISOString(), files };
  try {
    await store.putJson(`${key}/${HUB_MARKER}`, marker, { createOnly: !stale });
  } catch (err) {
    // Another run fetched the same commit at the same time: same bytes, its marker stands.
    if (!(err instanceof StoreConflict)) throw err;
  }
  return outcome(model, marker, true);
}

function outcome(model: HubModel, marker: HubMarker, fetched: boolean): FetchOutcome {
  return { model, fetched, files: marker.files.length, bytes: marker.files.reduce((n, f) => n + f.size, 0) };
}
