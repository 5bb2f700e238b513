/**
 * Store URIs. A config may name the store as a plain folder; everything past
 * the config speaks in URIs so a host, the worker and the CLI all agree on
 * one absolute location regardless of their working directory.
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StoreUriInvalid, fileUriProblem } from './fileUri';

/** Turns a folder path (relative to cwd, or absolute) into file:///abs; passes file:/// and gs:// through. */
export function resolveStoreUri(value: string, cwd: string): string {
  if (value.startsWith('gs://')) return value.replace(/\/+$/, '');
  if (value.startsWith('file://')) return fileUriOf(fileUriToPath(value));
  return fileUriOf(path.resolve(cwd, value));
}

/**
 * The absolute folder a file:/// URI names: its path percent-decoded (WHATWG
 * URL, as Python's unquote reads it too); a URI the two would read apart is
 * refused with StoreUriInvalid (src/store/fileUri.ts).
 */
export function fileUriToPath(uri: string): string {
  const problem = fileUriProblem(uri);
  if (problem) throw new StoreUriInvalid(uri, problem);
  return path.resolve(fileURLToPath(uri));
}

function fileUriOf(absPath: string): string {
  // pathToFileURL percent-encodes spaces and '#', which keeps the URI round-trippable.
  return pathToFileURL(absPath).href.replace(/\/+$/, '');
}
