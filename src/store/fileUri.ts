/**
 * What a file:// URI means, as one rule both sides of the store contract keep
 * (trainer/durable_finetune/store.py has the same checks): the path after
 * `file://` is percent-decoded as UTF-8, and any URI on which WHATWG URL
 * (Node's fileURLToPath) and Python's urlsplit + unquote would disagree is
 * refused instead of read two ways. The shared cases: test/fixtures/store/uris.json.
 * Pure (no Node built-ins): the config schema, which the workflow bundles, uses it.
 */

/** Why uri is not a usable file:// URI (with the fix), or undefined when it is one. */
export function fileUriProblem(uri: string): string | undefined {
  if (!uri.startsWith('file://')) return 'is not a file:// URI; write file:///absolute/path';
  const rest = uri.slice('file://'.length);
  if (!rest.startsWith('/')) {
    const host = rest.split('/')[0];
    return host === ''
      ? 'names no path; write file:///absolute/path'
      : `names the host "${host}"; a file:// URI names a folder on this machine: write file:///absolute/path (three slashes, no host)`;
  }
  if (uri.endsWith(' ')) return 'ends with a space, which URL parsers drop; remove it, or write a trailing space as %20';
  if (/[\u0000-\u001f\u007f]/.test(uri)) return 'holds a control character (tab, newline, ...); remove it';
  if (uri.includes('\\')) return 'holds a backslash, which URL parsers read as /; write / between folders, or %5C for a backslash in a name';
  if (/[?#]/.test(rest)) {
    return 'holds ? or #, which start a URL query or fragment, not part of a folder name; write them as %3F and %23, or give the folder as a plain path';
  }
  if (/%(?![0-9a-fA-F]{2})/.test(rest)) return 'holds a % that does not start a %XX escape; write a literal % as %25';
  const segments = rest === '/' ? [] : rest.slice(1).split('/');
  if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop(); // a trailing slash
  if (segments.length > 0 && /^[A-Za-z][:|]$/.test(segments[0])) {
    return 'starts with a Windows drive letter, which URL parsers rewrite; name a folder on this machine';
  }
  for (const segment of segments) {
    if (segment === '') return 'has an empty folder name (//); write single slashes';
    if (/%2f/i.test(segment)) return 'holds %2F, an encoded / inside a name, which Node refuses; write / between folders';
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      return `holds percent-escapes in "${segment}" that are not UTF-8; encode names as UTF-8 (e.g. %C3%A9 for é)`;
    }
    if (/[\u0000-\u001f\u007f]/.test(name)) return `decodes to a control character in "${segment}"; remove it`;
    if (name === '.' || name === '..') {
      return `has a "${segment}" segment, which URL parsers resolve but a store path must not; write the absolute path without . or ..`;
    }
  }
  return undefined;
}

export class StoreUriInvalid extends Error {
  readonly name = 'StoreUriInvalid';
  constructor(
    readonly uri: string,
    readonly reason: string,
  ) {
    super(`store URI ${JSON.stringify(uri)} ${reason}`);
  }
}
