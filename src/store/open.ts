/**
 * The one place that maps a store URI to an implementation, so adding gs://
 * is a change here and nowhere else.
 */
import { FileStore } from './file';
import { counted } from './counted';
import { GcsStore } from './gcs';
import { Store } from './store';

export class StoreUnavailable extends Error {
  readonly name = 'StoreUnavailable';
  constructor(
    readonly uri: string,
    reason: string,
  ) {
    super(`cannot open store ${uri}: ${reason}`);
  }
}

export function openStore(uri: string): Store {
  if (uri.startsWith('file:')) return counted(new FileStore(uri)); // FileStore refuses a file: URI it cannot read as one folder
  if (uri.startsWith('gs://')) {
    try {
      return counted(new GcsStore(uri));
    } catch (err) {
      throw new StoreUnavailable(uri, (err as Error).message);
    }
  }
  throw new StoreUnavailable(uri, 'expected file:///absolute/path or gs://bucket[/prefix] (resolve folder paths with resolveStoreUri first)');
}
