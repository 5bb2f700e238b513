/**
 * The store: the only channel between the control plane and a host
 * (docs/store-contract.md). Keys are '/'-separated and relative to the root.
 */
export interface Store {
  /** The URI this store was opened from: file:///abs or gs://bucket/prefix. */
  readonly uri: string;
  putJson(key: string, value: unknown, opts?: { createOnly?: boolean }): Promise<void>;
  /** Undefined when the key does not exist. */
  getJson<T>(key: string): Promise<T | undefined>;
  putBytes(key: string, data: Buffer): Promise<void>;
  getBytes(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  /** Every key under the prefix, recursively. */
  list(prefix: string): Promise<string[]>;
  /** Copies a local file or folder into the store under key. */
  uploadPath(localPath: string, key: string): Promise<void>;
  /** Copies every key under prefix to dest (a file:/// or gs:// URI of another store). */
  copyPrefix(prefix: string, dest: Store, destPrefix: string): Promise<void>;
  deletePrefix(prefix: string): Promise<void>;
}

/** Raised when a create-only write finds the key already there. */
export class StoreConflict extends Error {
  readonly name = 'StoreConflict';
  constructor(readonly key: string) {
    super(`store key ${key} already exists and was written create-only`);
  }
}
