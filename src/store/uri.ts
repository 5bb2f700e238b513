/**
 * Store URIs. A config may name the store as a plain folder; everything past
 * the config speaks in URIs so a host, the worker and the CLI all agree on
 * one absolute location regardless of their working directory.
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Turns a folder path (relative to cwd, or absolute) into file:///abs; passes file:/// and gs:// through. */
export function resolveStoreUri(value: string, cwd: string): string {
  if (value.startsWith('gs://')) return value.replace(/\/+$/, '');
  if (value.startsWith('file://')) return fileUriOf(fileUriToPath(value));
  return fileUriOf(path.resolve(cwd, value));
}

/** The absolute folder a file:/// URI names. */
export function fileUriToPath(uri: string): string {
  if (!uri.startsWith('file:///')) {
    throw new Error(`expected a file:///absolute/path store URI, got ${JSON.stringify(uri)}`);
  }
  return path.resolve(fileURLToPath(uri));
}

function fileUriOf(absPath: string): string {
  // pathToFileURL percent-encodes spaces and '#', which keeps the URI round-trippable.
  return pathToFileURL(absPath).href.replace(/\/+$/, '');
}
