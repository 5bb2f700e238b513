/**
 * A local Hugging Face Hub on 127.0.0.1 that speaks the Hub's HTTP API for
 * what the official clients call (@huggingface/hub here, huggingface_hub in
 * trainer/tests): revision info, tree listing, file resolve with its headers
 * and byte ranges, and errors exactly as the Hub answers them (status,
 * X-Error-Code, X-Error-Message, JSON body), so each client classifies them
 * as it would against huggingface.co.
 *
 * Repos live in memory as commits (full file snapshots) plus refs (branches,
 * tags); tokens carry read access per repo and write access per namespace or
 * repo. The write side is what @huggingface/hub's createRepo and commit call
 * with plain LFS (useXet: false): POST /api/repos/create, preupload, the LFS
 * batch API with a basic transfer (a PUT to the href it answers), and the
 * NDJSON commit. LFS objects are kept per sha256, so a batch for an object
 * already held asks for no upload, as on the Hub.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface HubFile {
  data: Buffer;
  /** Stored with Git LFS (weights, or anything over 10 MiB), as the Hub's .gitattributes do. */
  lfs: boolean;
  /** Git blob id: of the content, or of the LFS pointer for LFS files. */
  oid: string;
  sha256: string;
  pointerSize?: number;
}

export interface HubCommit {
  sha: string;
  parent: string | null;
  message: string;
  date: string;
  files: Map<string, HubFile>;
}

export interface HubRepo {
  id: string;
  private: boolean;
  /** false, or how access is granted ('auto' | 'manual'), as the Hub's `gated` field. */
  gated: false | 'auto' | 'manual';
  commits: Map<string, HubCommit>;
  /** Branches and tags: name -> commit sha. */
  refs: Map<string, string>;
  createdAt: string;
}

export interface HubRequest {
  method: string;
  /** The path without its query. */
  path: string;
  /** Whether an Authorization header came with it (never the token). */
  authorized: boolean;
}

const LFS_EXTENSIONS = /\.(safetensors|bin|pt|pth|ckpt|onnx|gguf|h5|msgpack|model|zip|tar|gz)$/;
const LFS_MIN_BYTES = 10 * 1024 * 1024;

const gitBlobId = (data: Buffer): string => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

const isLfs = (filePath: string, size: number): boolean => LFS_EXTENSIONS.test(filePath) || size >= LFS_MIN_BYTES;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function hubFile(filePath: string, data: Buffer): HubFile {
  const sha256 = createHash('sha256').update(data).digest('hex');
  const lfs = isLfs(filePath, data.length);
  if (!lfs) return { data, lfs, oid: gitBlobId(data), sha256 };
  const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${data.length}\n`);
  return { data, lfs, oid: gitBlobId(pointer), sha256, pointerSize: pointer.length };
}

class HubAnswer extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class LocalHub {
  readonly repos = new Map<string, HubRepo>();
  /** token -> the repos it may read ('all': every repo). */
  readonly tokens = new Map<string, Set<string> | 'all'>();
  /** token -> the namespaces (org) or repos (org/name) it may create and commit to. */
  readonly writers = new Map<string, Set<string> | 'all'>();
  /** LFS objects uploaded through the batch API, by sha256. */
  readonly lfsObjects = new Map<string, Buffer>();
  readonly requests: HubRequest[] = [];
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<LocalHub> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hub = new LocalHub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => void hub.handle(req, res));
    return hub;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  createRepo(id: string, opts: { private?: boolean; gated?: false | 'auto' | 'manual' } = {}): HubRepo {
    const repo: HubRepo = { id, private: opts.private ?? false, gated: opts.gated ?? false, commits: new Map(), refs: new Map(), createdAt: new Date().toISOString() };
    this.repos.set(id, repo);
    return repo;
  }

  /**
   * A new commit on branch: the branch's files, plus `files`, minus `remove`.
   * Returns its sha.
   */
  commit(repoId: string, files: Record<string, Buffer>, opts: { branch?: string; message?: string; remove?: string[] } = {}): string {
    const repo = this.repo(repoId);
    const branch = opts.branch ?? 'main';
    const parent = repo.refs.get(branch) ?? null;
    const tree = new Map(parent ? repo.commits.get(parent)!.files : []);
    for (const p of opts.remove ?? []) tree.delete(p);
    for (const [p, data] of Object.entries(files)) tree.set(p, hubFile(p, data));
    const listing = [...tree.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([p, f]) => `${p} ${f.oid}`)
      .join('\n');
    const sha = createHash('sha1')
      .update(`${parent}\n${listing}\n${opts.message ?? ''}\n${randomBytes(8).toString('hex')}`)
      .digest('hex');
    repo.commits.set(sha, { sha, parent, message: opts.message ?? 'commit', date: new Date().toISOString(), files: tree });
    repo.refs.set(branch, sha);
    return sha;
  }

  /** A tag (or a branch) pointing at sha. */
  ref(repoId: string, name: string, sha: string): void {
    this.repo(repoId).refs.set(name, sha);
  }

  /**
   * A token that may read the given repos (gated and private ones included), or all of them,
   * and write (create repos, commit) in the given namespaces or repos; writing implies reading.
   */
  addToken(token: string, read: string[] | 'all', write: string[] | 'all' = []): void {
    this.tokens.set(token, read === 'all' ? 'all' : new Set(read));
    this.writers.set(token, write === 'all' ? 'all' : new Set(write));
  }

  /** The commits of a branch, newest first. */
  history(repoId: string, branch = 'main'): HubCommit[] {
    const repo = this.repo(repoId);
    const out: HubCommit[] = [];
    for (let sha = repo.refs.get(branch) ?? null; sha; sha = repo.commits.get(sha)!.parent) out.push(repo.commits.get(sha)!);
    return out;
  }

  /** The requests for files (resolve), the downloads a client made. */
  fileRequests(): HubRequest[] {
    return this.requests.filter((r) => r.path.includes('/resolve/'));
  }

  private repo(id: string): HubRepo {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`local hub: no repo ${id}`);
    return repo;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const auth = req.headers.authorization;
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, authorized: Boolean(auth) });
    try {
      const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
      if (auth !== undefined && (token === undefined || !this.tokens.has(token))) {
        throw new HubAnswer(401, undefined, 'Invalid credentials in Authorization header');
      }
      if (req.method === 'POST' || req.method === 'PUT') return await this.write(req, res, url, token);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HubAnswer(405, undefined, `${req.method} is not served here`);
      let m = /^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/([^/]+))?$/.exec(url.pathname);
      if (m) return this.info(res, this.readable(m[1], token, 'metadata'), m[2] === undefined ? 'main' : decodeURIComponent(m[2]));
      m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/(.+)$/.exec(url.pathname);
      if (m) return this.tree(res, this.readable(m[1], token, 'metadata'), m[2], url.searchParams.get('recursive') === 'true');
      m = /^\/([^/]+\/[^/]+)\/resolve\/(.+)$/.exec(url.pathname);
      if (m) return this.resolve(req, res, this.readable(m[1], token, 'files'), m[2]);
      throw new HubAnswer(404, undefined, "Sorry, we can't find the page you are looking for.");
    } catch (caught) {
      // A bug here answers 500, as a broken Hub would, instead of taking the test process down.
      const err = caught instanceof HubAnswer ? caught : new HubAnswer(500, undefined, `local hub: ${(caught as Error).message}`);
      const body = JSON.stringify({ error: err.message });
      res.writeHead(err.status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': req.method === 'HEAD' ? 0 : Buffer.byteLength(body),
        'X-Error-Message': err.message,
        ...(err.code ? { 'X-Error-Code': err.code } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  }

  private mayWrite(token: string | undefined, repoId: string): boolean {
    const w = token === undefined ? undefined : this.writers.get(token);
    return w === 'all' || (w !== undefined && (w.has(repoId) || w.has(repoId.split('/')[0])));
  }

  /** The repo if this caller may commit to it: as on the Hub, 401 anonymous, 404 when it cannot see it, 403 when it may only read. */
  private writable(id: string, token: string | undefined): HubRepo {
    if (token === undefined) throw new HubAnswer(401, undefined, 'You must be authenticated to write to this repo');
    const repo = this.readable(id, token, 'metadata');
    if (!this.mayWrite(token, id)) throw new HubAnswer(403, undefined, `You don't have the rights to write to ${id}; your token may only read it`);
    return repo;
  }

  private async write(req: http.IncomingMessage, res: http.ServerResponse, url: URL, token: string | undefined): Promise<void> {
    const body = await readBody(req);
    if (req.method === 'PUT') {
      // The basic transfer's upload href: the body must be the object the batch announced.
      const m = /^\/__lfs\/([0-9a-f]{64})$/.exec(url.pathname);
      if (!m) throw new HubAnswer(404, undefined, 'no upload here');
      const sha = createHash('sha256').update(body).digest('hex');
      if (sha !== m[1]) throw new HubAnswer(400, undefined, `uploaded content has sha256 ${sha}, not ${m[1]}`);
      this.lfsObjects.set(sha, body);
      res.writeHead(200, { ETag: `"${sha}"` });
      return void res.end();
    }
    if (url.pathname === '/api/repos/create') return this.createRepoCall(res, JSON.parse(body.toString('utf8')), token);
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/.exec(url.pathname);
    if (m) {
      this.writable(m[1], token);
      const { files } = JSON.parse(body.toString('utf8')) as { files: { path: string; size: number }[] };
      return json(res, { files: files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path, f.size) ? 'lfs' : 'regular', shouldIgnore: false })) });
    }
    m = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(url.pathname);
    if (m) {
      this.writable(m[1], token);
      const batch = JSON.parse(body.toString('utf8')) as { operation: string; transfers?: string[]; objects: { oid: string; size: number }[] };
      if (batch.operation !== 'upload') throw new HubAnswer(400, undefined, 'only upload batches are served here');
      if (batch.transfers && !batch.transfers.includes('basic')) throw new HubAnswer(422, undefined, 'this server speaks only the basic transfer');
      return json(res, {
        transfer: 'basic',
        objects: batch.objects.map((o) => ({
          oid: o.oid,
          size: o.size,
          authenticated: true,
          ...(this.lfsObjects.has(o.oid) ? {} : { actions: { upload: { href: `${this.url}/__lfs/${o.oid}`, expires_in: 3600 } } }),
        })),
      });
    }
    m = /^\/api\/models\/([^/]+\/[^/]+)\/commit\/([^/]+)$/.exec(url.pathname);
    if (m) return this.commitCall(res, this.writable(m[1], token), decodeURIComponent(m[2]), body.toString('utf8'));
    throw new HubAnswer(404, undefined, "Sorry, we can't find the page you are looking for.");
  }

  private createRepoCall(res: http.ServerResponse, payload: { name: string; organization?: string; visibility?: string; type?: string }, token: string | undefined): void {
    if (token === undefined) throw new HubAnswer(401, undefined, 'You must be authenticated to create a repo');
    if (payload.type !== undefined && payload.type !== 'model') throw new HubAnswer(400, undefined, 'only model repos are served here');
    const id = `${payload.organization}/${payload.name}`;
    if (!this.mayWrite(token, id)) throw new HubAnswer(403, undefined, `You don't have the rights to create a model under the namespace "${payload.organization}"`);
    if (this.repos.has(id)) {
      res.writeHead(409, { 'Content-Type': 'application/json', 'X-Error-Message': 'You already created this model repo' });
      return void res.end(JSON.stringify({ error: 'You already created this model repo', url: `${this.url}/${id}` }));
    }
    this.createRepo(id, { private: payload.visibility === 'private' });
    // The Hub starts every repo with a commit holding its default .gitattributes.
    this.commit(id, { '.gitattributes': Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n') }, { message: 'initial commit' });
    json(res, { url: `${this.url}/${id}`, name: id, id: createHash('sha1').update(id).digest('hex').slice(0, 24) });
  }

  /** The NDJSON commit: a header line, then file (inline), lfsFile (by sha256, uploaded before) and deletedFile lines. */
  private commitCall(res: http.ServerResponse, repo: HubRepo, branch: string, body: string): void {
    const lines = body
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { key: string; value: Record<string, unknown> });
    const header = lines.find((l) => l.key === 'header')?.value as { summary?: string; description?: string; parentCommit?: string } | undefined;
    if (!header?.summary) throw new HubAnswer(400, undefined, 'the commit has no header with a summary');
    const head = repo.refs.get(branch);
    if (head === undefined) throw new HubAnswer(404, 'RevisionNotFound', `Invalid rev id: ${branch}`);
    if (header.parentCommit && header.parentCommit !== head) {
      throw new HubAnswer(412, undefined, `A commit has happened since. Please refresh and try again. (parent ${header.parentCommit}, head ${head})`);
    }
    const files: Record<string, Buffer> = {};
    const remove: string[] = [];
    for (const { key, value } of lines) {
      if (key === 'file') {
        files[value.path as string] = Buffer.from(value.content as string, value.encoding === 'base64' ? 'base64' : 'utf8');
      } else if (key === 'lfsFile') {
        const data = this.lfsObjects.get(value.oid as string);
        if (!data || data.length !== value.size) throw new HubAnswer(422, undefined, `LFS object ${value.oid} of ${value.path} was not uploaded`);
        files[value.path as string] = data;
      } else if (key === 'deletedFile') {
        remove.push(value.path as string);
      } else if (key !== 'header') {
        throw new HubAnswer(400, undefined, `unknown commit line ${key}`);
      }
    }
    const message = header.description ? `${header.summary}\n\n${header.description}` : header.summary;
    const sha = this.commit(repo.id, files, { branch, message, remove });
    json(res, { success: true, commitOid: sha, commitUrl: `${this.url}/${repo.id}/commit/${sha}`, hookOutput: '' });
  }

  /**
   * The repo if this caller may see it. As on the Hub: a private or missing repo
   * is RepoNotFound (401 anonymous, 404 with a token); a gated repo shows its
   * metadata to anyone and its files only to tokens granted access (GatedRepo:
   * 401 anonymous, 403 with a token).
   */
  private readable(id: string, token: string | undefined, what: 'metadata' | 'files'): HubRepo {
    const repo = this.repos.get(id);
    const granted = token !== undefined && (this.tokens.get(token) === 'all' || (this.tokens.get(token) as Set<string>).has(id) || this.mayWrite(token, id));
    if (!repo || (repo.private && !granted)) throw new HubAnswer(token ? 404 : 401, 'RepoNotFound', 'Repository not found');
    if (repo.gated && what === 'files' && !granted) {
      throw token
        ? new HubAnswer(403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. Visit ${this.url}/${id} to ask for access.`)
        : new HubAnswer(401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    return repo;
  }

  private commitOf(repo: HubRepo, revision: string): HubCommit {
    // HEAD names the default branch, as on the Hub (the JS client's modelInfo asks for it when given no revision).
    if (revision === 'HEAD') revision = 'main';
    const sha = repo.refs.get(revision) ?? (repo.commits.has(revision) ? revision : undefined);
    if (!sha) throw new HubAnswer(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    return repo.commits.get(sha)!;
  }

  /** Splits "<revision>/<path>" where the revision may itself hold slashes (refs/pr/1), encoded or not. */
  private splitRevision(repo: HubRepo, rest: string): { commit: HubCommit; filePath: string } {
    const parts = rest.split('/').map(decodeURIComponent);
    for (let i = parts.length; i >= 1; i--) {
      const revision = parts.slice(0, i).join('/');
      if (repo.refs.has(revision) || repo.commits.has(revision)) return { commit: this.commitOf(repo, revision), filePath: parts.slice(i).join('/') };
    }
    throw new HubAnswer(404, 'RevisionNotFound', `Invalid rev id: ${parts[0]}`);
  }

  private info(res: http.ServerResponse, repo: HubRepo, revision: string): void {
    const commit = this.commitOf(repo, revision);
    const [author] = repo.id.split('/');
    json(res, {
      _id: createHash('sha1').update(repo.id).digest('hex').slice(0, 24),
      id: repo.id,
      modelId: repo.id,
      author,
      sha: commit.sha,
      lastModified: commit.date,
      createdAt: repo.createdAt,
      private: repo.private,
      gated: repo.gated,
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: ['transformers', 'safetensors'],
      library_name: 'transformers',
      pipeline_tag: 'text-generation',
      siblings: [...commit.files.keys()].sort().map((rfilename) => ({ rfilename })),
    });
  }

  private tree(res: http.ServerResponse, repo: HubRepo, rest: string, recursive: boolean): void {
    const { commit, filePath } = this.splitRevision(repo, rest);
    const prefix = filePath === '' ? '' : `${filePath}/`;
    const entries = new Map<string, object>();
    for (const [p, f] of [...commit.files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!p.startsWith(prefix)) continue;
      const rel = p.slice(prefix.length).split('/');
      // Folders on the way to a file are entries too; without recursive, only the first level.
      for (let depth = 1; depth < rel.length && (recursive || depth === 1); depth++) {
        const dir = prefix + rel.slice(0, depth).join('/');
        entries.set(dir, { type: 'directory', oid: createHash('sha1').update(`${commit.sha}:${dir}`).digest('hex'), size: 0, path: dir });
      }
      if (!recursive && rel.length > 1) continue;
      entries.set(p, { type: 'file', oid: f.oid, size: f.data.length, path: p, ...(f.lfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: f.pointerSize } } : {}) });
    }
    if (entries.size === 0 && filePath !== '') throw new HubAnswer(404, 'EntryNotFound', `${filePath} does not exist on "${commit.sha}"`);
    json(res, [...entries.values()]);
  }

  private resolve(req: http.IncomingMessage, res: http.ServerResponse, repo: HubRepo, rest: string): void {
    const { commit, filePath } = this.splitRevision(repo, rest);
    const file = commit.files.get(filePath);
    if (!file) throw new HubAnswer(404, 'EntryNotFound', 'Entry not found');
    const etag = `"${file.lfs ? file.sha256 : file.oid}"`;
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'X-Repo-Commit': commit.sha,
      ...(file.lfs ? { 'X-Linked-Etag': etag, 'X-Linked-Size': String(file.data.length) } : {}),
    };
    const total = file.data.length;
    const range = req.headers.range;
    let start = 0;
    let end = total - 1;
    if (range !== undefined) {
      const r = /^bytes=(\d*)-(\d*)$/.exec(range);
      const from = r?.[1] ? Number(r[1]) : undefined;
      const to = r?.[2] ? Number(r[2]) : undefined;
      if (!r || (from === undefined && to === undefined)) throw new HubAnswer(416, undefined, `Invalid range ${range}`);
      [start, end] = from === undefined ? [Math.max(0, total - to!), total - 1] : [from, Math.min(to ?? total - 1, total - 1)];
      if (start > end || start >= total) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${total}` });
        return void res.end();
      }
      headers['Content-Range'] = `bytes ${start}-${end}/${total}`;
    }
    headers['Content-Length'] = String(end - start + 1);
    res.writeHead(range === undefined ? 200 : 206, headers);
    res.end(req.method === 'HEAD' ? undefined : file.data.subarray(start, end + 1));
  }
}

function json(res: http.ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The files of the tiny example model (examples/tiny/model): the same bytes the local-folder runs load. */
export function tinyModelFiles(projectRoot: string): Record<string, Buffer> {
  const dir = path.join(projectRoot, 'examples/tiny/model');
  return Object.fromEntries(fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name))]));
}

/** Tokens of the tiny hub: one granted every repo, one granted none (a real account without access). */
export const TINY_HUB_TOKENS = { reader: 'hf_localhub_reader_token', stranger: 'hf_localhub_stranger_token' } as const;

/**
 * The tiny model published three ways: public (`tiny-org/tiny-llama`, tag v1
 * on its first commit, main one commit later with a README and an ONNX file
 * that a host does not need), gated (`tiny-org/gated-llama`) and private
 * (`tiny-org/private-llama`).
 */
export function publishTinyModels(hub: LocalHub, projectRoot: string): { v1: string; main: string } {
  const files = tinyModelFiles(projectRoot);
  hub.createRepo('tiny-org/tiny-llama');
  const v1 = hub.commit('tiny-org/tiny-llama', { ...files, '.gitattributes': Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n') }, { message: 'tiny model' });
  hub.ref('tiny-org/tiny-llama', 'v1', v1);
  const main = hub.commit('tiny-org/tiny-llama', { 'README.md': Buffer.from('# tiny-llama\n'), 'onnx/model.onnx': Buffer.from('not needed') }, { message: 'readme and onnx' });
  for (const [id, opts] of [
    ['tiny-org/gated-llama', { gated: 'manual' as const }],
    ['tiny-org/private-llama', { private: true }],
  ] as const) {
    hub.createRepo(id, opts);
    hub.commit(id, files, { message: 'tiny model' });
  }
  hub.addToken(TINY_HUB_TOKENS.reader, 'all');
  hub.addToken(TINY_HUB_TOKENS.stranger, []);
  return { v1, main };
}
