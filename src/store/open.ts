/**
 * The one place that maps a store URI to an implementation, so adding gs://
 * is a change here and nowhere else.
 */
import { FileStore } from './file';
import { Store } from './store';

export class StoreUnavailable extends Error {
  readonly name = 'StoreUnavailable';
  constructor(readonly uri: string, reason: string) {
    super(`cannot open store ${uri}: ${reason}`);
  }
}

export function openStore(uri: string): Store {
  if (uri.startsWith('file:///')) return new FileStore(uri);
  if (uri.startsWith('gs://')) {
    throw new StoreUnavailable(uri, 'gs:// store is not available in this build; use a local folder (file:///...) for now');
  }
  throw new StoreUnavailable(uri, 'expected file:///absolute/path or gs://bucket[/prefix] (resolve folder paths with resolveStoreUri first)');
}
