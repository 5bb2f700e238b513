/**
 * The references a config names (store, output, model.base, data.*): what
 * each may be, checked as text before anything reads them. A reference the
 * worker and the host could read two ways (gs://bucket//abs is an absolute
 * path on the host; a file:// URI with %20 was a different folder in Python)
 * is refused here with the fix. hf: model references are checked by the Hub
 * part (src/hub). Pure: the schema, which the workflow bundles, calls it.
 */
import { fileUriProblem } from '../store/fileUri';

/** What a field names: a store folder, a model folder, or one data file. */
export type RefKind = 'store' | 'model' | 'data';

const FORMS: Record<RefKind, string> = {
  store: 'a folder path, file:///absolute/path or gs://<bucket>[/<prefix>]',
  model: 'a local model folder, file:///absolute/path, gs://<bucket>/<folder> or hf:<org>/<name>',
  data: 'a local JSONL file, file:///absolute/path/file.jsonl or gs://<bucket>/<path>/file.jsonl',
};

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why value is not a reference of this kind (what is wrong, then the fix), or undefined when it is one. */
export function refProblem(value: string, kind: RefKind): string | undefined {
  if (value.trim() === '') return `is empty; name ${FORMS[kind]}`;
  if (value.startsWith('hf:')) return kind === 'model' ? undefined : `is a Hugging Face reference, which only model.base may be; name ${FORMS[kind]}`;
  if (value.startsWith('gs://')) return gsProblem(value, kind);
  if (value.startsWith('gs:')) return 'is not a gs:// URI (two slashes after gs:); write gs://<bucket>/<path>';
  if (value.startsWith('file:')) {
    const problem = fileUriProblem(value);
    if (problem) return value.startsWith('file://') ? `is a file:// URI that ${problem}` : problem;
    if (kind === 'data' && value.endsWith('/')) return 'ends with /, which names a folder; a data file is one JSONL file';
    return undefined;
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(value)?.[1];
  if (scheme) return `uses ${scheme}:, which is not supported; name ${FORMS[kind]}`;
  if (CONTROL.test(value)) return 'holds a control character (tab, newline, ...); remove it';
  if (value.startsWith('~')) return 'starts with ~, which is not expanded here; write the full path (or a path relative to the current folder)';
  if (kind === 'data' && value.endsWith('/')) return 'ends with /, which names a folder; a data file is one JSONL file';
  return undefined;
}

/**
 * gs://<bucket>[/<object name>]: the bucket under GCS's naming rules, the
 * object name as written (no percent-decoding, as gcloud reads it) in
 * non-empty '/'-separated parts, none of them . or .. (the host downloads an
 * object to <cache>/<name>, so those would land outside its cache).
 */
function gsProblem(value: string, kind: RefKind): string | undefined {
  const rest = value.slice('gs://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const bucketIssue = bucketProblem(bucket);
  if (bucketIssue) return `names the bucket "${bucket}", which ${bucketIssue}`;
  let name = slash < 0 ? '' : rest.slice(slash + 1);
  if (kind !== 'data') name = name.replace(/\/$/, ''); // a folder may end with /
  if (name === '') {
    if (kind === 'store') return undefined;
    return kind === 'model'
      ? `names no folder in the bucket; write gs://${bucket}/<folder> (the folder with config.json and the weights)`
      : `names no file in the bucket; write gs://${bucket}/<path>/file.jsonl`;
  }
  if (name.endsWith('/')) return 'ends with /, which names a folder; a data file is one JSONL object';
  if (CONTROL.test(name)) return 'holds a control character in the object name; remove it';
  if (utf8Length(name) > 1024) return 'has an object name longer than GCS allows (1024 bytes); shorten it';
  const parts = name.split('/');
  if (parts[0] === '') {
    return `has an object name that starts with / (${value}): the host would write it to an absolute path; write gs://${bucket}/${name.replace(/^\/+/, '')}`;
  }
  for (const part of parts) {
    if (part === '') return `has an empty part (//) in the object name; write single slashes: gs://${bucket}/${parts.filter((p) => p !== '').join('/')}`;
    if (part === '.' || part === '..') return `has a "${part}" part in the object name, which would climb out of the folder it is copied to; name the object by its plain path`;
  }
  return undefined;
}

/** GCS bucket naming (cloud.google.com/storage/docs/buckets#naming): why name breaks it, or undefined. */
function bucketProblem(name: string): string | undefined {
  if (name === '') return 'is empty; write gs://<bucket>/...';
  if (/[A-Z]/.test(name)) return `has capital letters; bucket names are lowercase: ${name.toLowerCase()}`;
  const parts = name.split('.');
  if (name.length < 3 || name.length > 222 || (parts.length === 1 && name.length > 63)) {
    return 'has the wrong length: 3-63 characters (up to 222 with dots, 63 between dots)';
  }
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) return 'breaks the bucket naming rules: use lowercase letters, digits, -, _ and ., starting and ending with a letter or digit';
  if (parts.some((p) => p === '' || p.length > 63 || /^-|-$/.test(p))) return 'has an empty or badly formed part between dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'looks like an IP address, which GCS refuses';
  if (name.startsWith('goog') || name.includes('google')) return 'starts with "goog" or holds "google", which GCS refuses';
  return undefined;
}

function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    n += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return n;
}
