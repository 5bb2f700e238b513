/**
 * Store operations counted as they happen, so an operator sees what the
 * control plane asks of the store (on gs:// every operation is a billed
 * request) and bench:scale can report operations per run-minute. Off unless
 * a process installs a recorder (the worker does: workers/worker.ts).
 */
import type { Store } from './store';

export type StoreOperation = 'putJson' | 'getJson' | 'putBytes' | 'getBytes' | 'exists' | 'list' | 'uploadPath' | 'copyPrefix' | 'deletePrefix';
export type StoreOperationRecorder = (op: StoreOperation, scheme: string) => void;

let recorder: StoreOperationRecorder | undefined;

/** Every store opened after this call counts its operations through `record`. */
export function recordStoreOperations(record: StoreOperationRecorder | undefined): void {
  recorder = record;
}

export function counted(store: Store): Store {
  const record = recorder;
  if (!record) return store;
  const scheme = store.uri.slice(0, store.uri.indexOf(':'));
  const count =
    <A extends unknown[], R>(op: StoreOperation, call: (...args: A) => R) =>
    (...args: A): R => {
      record(op, scheme);
      return call(...args);
    };
  return {
    uri: store.uri,
    putJson: count('putJson', store.putJson.bind(store)),
    getJson: count('getJson', store.getJson.bind(store)) as Store['getJson'],
    putBytes: count('putBytes', store.putBytes.bind(store)),
    getBytes: count('getBytes', store.getBytes.bind(store)),
    exists: count('exists', store.exists.bind(store)),
    list: count('list', store.list.bind(store)),
    uploadPath: count('uploadPath', store.uploadPath.bind(store)),
    copyPrefix: count('copyPrefix', store.copyPrefix.bind(store)),
    deletePrefix: count('deletePrefix', store.deletePrefix.bind(store)),
  };
}
