/**
 * Reading a config file and pinning its local paths. The worker, the host
 * agent and the CLI run in different directories, so a run carries only
 * absolute paths and URIs; a missing data file or model folder is reported
 * now, before any host is paid for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigInvalid, ConfigIssue, parseConfig } from './parse';
import { PipelineConfig } from './schema';
import { fileUriToPath, resolveStoreUri } from '../store/uri';
import { isHfRef } from '../hub/ref';
import { modelFamilyProblem } from './modelFamily';

export class ConfigFileUnreadable extends Error {
  readonly name = 'ConfigFileUnreadable';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`cannot read config file ${file}: ${reason}`);
  }
}

/** Reads a YAML or JSON config file and validates it; paths stay as written. */
export function loadConfigFile(file: string): PipelineConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileUnreadable(file, (err as Error).message);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigFileUnreadable(file, `it is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfig(raw);
}

/**
 * A copy of config whose local paths are absolute (relative ones are read
 * against cwd; file:// URIs percent-decoded, src/store/fileUri.ts) and whose
 * store and output are file:/// or gs:// URIs. Remote references (gs://, hf:)
 * pass through, their text already checked by the schema (src/config/refs.ts);
 * local data files and model folders must exist. Their contents are read by
 * src/data/check.ts.
 */
export function resolveLocalPaths(config: PipelineConfig, cwd: string): PipelineConfig {
  const issues: ConfigIssue[] = [];
  const local = (field: string, value: string, kind: 'file' | 'folder'): string => {
    if (isRemote(value)) return value;
    const abs = value.startsWith('file:') ? fileUriToPath(value) : path.resolve(cwd, value);
    const problem = missing(abs, kind);
    if (problem) {
      issues.push({
        field,
        value,
        problem: `${problem} at ${abs}; fix the path (relative paths are read from ${cwd}) or use a gs:// URI${field === 'model.base' ? ' or hf:<org>/<name>' : ''}`,
      });
    } else if (kind === 'folder') {
      const family = modelFamilyProblem(readJsonOrUndefined(path.join(abs, 'config.json')));
      if (family) issues.push({ field, value, problem: family });
    }
    return abs;
  };

  const resolved: PipelineConfig = {
    ...config,
    store: resolveStoreUri(config.store, cwd),
    output: config.output === undefined || isHfRef(config.output) ? config.output : resolveStoreUri(config.output, cwd),
    host: config.host.provider === 'local' ? resolveLocalHost(config.host, cwd) : config.host,
    model: { ...config.model, base: local('model.base', config.model.base, 'folder') },
    data: {
      sft: local('data.sft', config.data.sft, 'file'),
      preferences: local('data.preferences', config.data.preferences, 'file'),
      eval: local('data.eval', config.data.eval, 'file'),
    },
  };
  if (resolved.output === undefined) delete resolved.output;
  if (issues.length > 0) throw new ConfigInvalid(issues);
  return resolved;
}

/** A local host's python (when a path) and workdir, made absolute; unset stays unset. */
function resolveLocalHost(host: Extract<PipelineConfig['host'], { provider: 'local' }>, cwd: string): typeof host {
  const out = { ...host };
  if (host.python?.includes('/')) out.python = path.resolve(cwd, host.python);
  if (host.workdir !== undefined) out.workdir = path.resolve(cwd, host.workdir);
  return out;
}

function isRemote(value: string): boolean {
  return value.startsWith('gs://') || value.startsWith('hf:');
}

function missing(abs: string, kind: 'file' | 'folder'): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    return `no ${kind} exists`;
  }
  if (kind === 'file' && !stat.isFile()) return 'this is not a file';
  if (kind === 'folder' && !stat.isDirectory()) return 'this is not a folder (a local model is a folder with config.json and weights)';
  if (kind === 'folder' && !fs.existsSync(path.join(abs, 'config.json'))) {
    return 'the folder has no config.json (a local model is a folder with config.json, the tokenizer and the weights)';
  }
  return undefined;
}

function readJsonOrUndefined(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
