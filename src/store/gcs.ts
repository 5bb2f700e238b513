/**
 * A store in a GCS bucket under a prefix (gs://bucket/prefix), through
 * @google-cloud/storage, which honours STORAGE_EMULATOR_HOST.
 *
 * Every object write is whole (GCS never shows half an object), and every
 * write is retried on transient errors: rewriting the same bytes is harmless,
 * so the client's default of retrying only precondition-guarded writes is
 * widened to all of them. A create-only write carries ifGenerationMatch: 0;
 * when a retry of it finds its own bytes already there (the first try landed
 * but its answer was lost), that is success, not a conflict.
 */
import { IdempotencyStrategy, Storage, type Bucket, type StorageOptions } from '@google-cloud/storage';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore, filesUnder } from './file';
import { joinKey, normaliseKey } from './keys';
import { forEachLimited } from './parallel';
import { Store, StoreConflict } from './store';
import { parseStoredJson } from './json';
import { isTempKey } from './temp';

export interface GcsStoreOptions {
  /** Transfers in flight when a folder moves. */
  parallelism?: number;
  /** Files larger than this go up as resumable uploads (chunked, restartable). */
  resumableThresholdBytes?: number;
  /** Overrides of the client's retry settings (tests shorten the delays). */
  retry?: Partial<NonNullable<StorageOptions['retryOptions']>>;
}

const DEFAULT_PARALLELISM = 8;
const DEFAULT_RESUMABLE_THRESHOLD = 8 * 1024 * 1024;

export class GcsStore implements Store {
  readonly uri: string;
  readonly bucketName: string;
  /** Object-name prefix without slashes at either end; '' for the bucket root. */
  readonly prefix: string;
  private readonly bucket: Bucket;
  private readonly parallelism: number;
  private readonly resumableThreshold: number;

  constructor(uri: string, opts: GcsStoreOptions = {}) {
    const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:\/(.*))?$/.exec(uri);
    if (!m) throw new Error(`expected gs://bucket[/prefix], got ${JSON.stringify(uri)}`);
    this.bucketName = m[1];
    this.prefix = normaliseKey((m[2] ?? '').replace(/^\/+/, ''), { allowEmpty: true });
    this.uri = this.prefix ? `gs://${this.bucketName}/${this.prefix}` : `gs://${this.bucketName}`;
    this.parallelism = opts.parallelism ?? DEFAULT_PARALLELISM;
    this.resumableThreshold = opts.resumableThresholdBytes ?? DEFAULT_RESUMABLE_THRESHOLD;
    this.bucket = storageClient(opts.retry).bucket(this.bucketName);
  }

  async putJson(key: string, value: unknown, opts: { createOnly?: boolean } = {}): Promise<void> {
    const data = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    const name = this.objectName(key);
    if (!opts.createOnly) {
      await this.save(name, data, 'application/json');
      return;
    }
    try {
      await this.bucket.file(name).save(data, {
        resumable: false,
        contentType: 'application/json',
        preconditionOpts: { ifGenerationMatch: 0 },
      });
    } catch (err) {
      if (codeOf(err) !== 412) throw err;
      const there = await this.getBytes(key);
      if (there === undefined || !there.equals(data)) throw new StoreConflict(normaliseKey(key));
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    return parseStoredJson<T>(await this.getBytes(key), key, this.uri);
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    await this.save(this.objectName(key), data);
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      const [data] = await this.bucket.file(this.objectName(key)).download();
      return data;
    } catch (err) {
      if (codeOf(err) === 404) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    const [found] = await this.bucket.file(this.objectName(key)).exists();
    return found;
  }

  /** Keys under prefix, treated as a folder (as FileStore does), sorted; temp names (a composite upload's parts) hidden. */
  async list(prefix: string): Promise<string[]> {
    const base = normaliseKey(prefix, { allowEmpty: true });
    const objectPrefix = joinKey(this.prefix, base);
    const [files] = await this.bucket.getFiles({ prefix: objectPrefix ? `${objectPrefix}/` : '', autoPaginate: true });
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    return files
      .map((f) => f.name.slice(strip))
      .filter((k) => !isTempKey(k))
      .sort();
  }

  async uploadPath(localPath: string, key: string): Promise<void> {
    const dest = normaliseKey(key);
    const stat = await fs.stat(localPath);
    if (stat.isFile()) {
      await this.uploadFile(localPath, dest, stat.size);
      return;
    }
    if (!stat.isDirectory()) throw new Error(`cannot upload ${localPath}: it is neither a file nor a folder`);
    await forEachLimited(await filesUnder(localPath), this.parallelism, async (rel) => {
      const file = path.join(localPath, rel);
      await this.uploadFile(file, joinKey(dest, rel), (await fs.stat(file)).size);
    });
  }

  /**
   * Bucket to bucket copies stay inside GCS (no bytes through the worker);
   * to a folder, each object streams to disk rather than through memory.
   */
  async copyPrefix(prefix: string, dest: Store, destPrefix: string): Promise<void> {
    const from = normaliseKey(prefix, { allowEmpty: true });
    const to = normaliseKey(destPrefix, { allowEmpty: true });
    const keys = await this.list(from);
    const targetOf = (k: string) => joinKey(to, from === '' ? k : k.slice(from.length + 1));
    if (dest instanceof GcsStore) {
      await forEachLimited(keys, this.parallelism, async (k) => {
        await this.bucket.file(this.objectName(k)).copy(dest.bucket.file(dest.objectName(targetOf(k))));
      });
      return;
    }
    if (!(dest instanceof FileStore)) {
      await forEachLimited(keys, this.parallelism, async (k) => {
        const bytes = await this.getBytes(k);
        if (bytes !== undefined) await dest.putBytes(targetOf(k), bytes);
      });
      return;
    }
    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'finetune-gcs-copy-'));
    try {
      await forEachLimited(keys, this.parallelism, async (k) => {
        const tmp = path.join(scratch, Buffer.from(k).toString('hex').slice(0, 200) + path.extname(k));
        await this.bucket.file(this.objectName(k)).download({ destination: tmp });
        await dest.uploadPath(tmp, targetOf(k));
        await fs.rm(tmp, { force: true });
      });
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  }

  /** The key prefix names and every key under it. Refuses the empty prefix: wiping a whole store is never one stage's business. */
  async deletePrefix(prefix: string): Promise<void> {
    const base = normaliseKey(prefix);
    await forEachLimited([base, ...(await this.list(base))], this.parallelism, async (k) => {
      await this.bucket.file(this.objectName(k)).delete({ ignoreNotFound: true });
    });
  }

  private objectName(key: string): string {
    return joinKey(this.prefix, normaliseKey(key));
  }

  private async save(name: string, data: Buffer, contentType?: string): Promise<void> {
    await this.bucket.file(name).save(data, { resumable: data.length > this.resumableThreshold, contentType });
  }

  private async uploadFile(localFile: string, key: string, size: number): Promise<void> {
    await this.bucket.upload(localFile, { destination: this.objectName(key), resumable: size > this.resumableThreshold });
  }
}

/** One client per process and retry setting: it holds the auth and the HTTP agent. */
const clients = new Map<string, Storage>();

function storageClient(retry: GcsStoreOptions['retry'] = {}): Storage {
  const id = `${process.env.STORAGE_EMULATOR_HOST ?? ''}|${JSON.stringify(retry)}`;
  let client = clients.get(id);
  if (!client) {
    const emulator = emulatorRoot();
    client = new Storage({
      ...(emulator ? { apiEndpoint: emulator } : {}),
      retryOptions: { autoRetry: true, maxRetries: 5, idempotencyStrategy: IdempotencyStrategy.RetryAlways, ...retry },
    });
    // This client takes STORAGE_EMULATOR_HOST verbatim as its JSON API base URL,
    // while the Python client (the agent, same environment) wants the bare host.
    if (emulator) client.baseUrl = `${emulator}/storage/v1`;
    clients.set(id, client);
  }
  return client;
}

/** STORAGE_EMULATOR_HOST as scheme://host:port, whichever way it was spelled. */
function emulatorRoot(): string | undefined {
  const value = process.env.STORAGE_EMULATOR_HOST;
  if (!value) return undefined;
  const withScheme = /^[a-z]+:\/\//.test(value) ? value : `http://${value}`;
  return withScheme.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}

function codeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
