/**
 * docker-compose.yml is the self-hosted deployment: Temporal on PostgreSQL,
 * the UI, the search attributes our runs carry, and our worker image, wired
 * with the environment the worker actually reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../src/client/devServer';
import { projectRoot } from '../../src/paths';

interface Service {
  image?: string;
  build?: unknown;
  depends_on?: string[] | Record<string, { condition: string }>;
  environment?: Record<string, string | number>;
  ports?: string[];
  command?: string | string[];
}

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;
const dependsOn = (s: Service): string[] => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

/** Every source file the worker image runs (the Dockerfile copies these folders). */
function workerSources(): string {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  for (const dir of ['src', 'workers', 'activities', 'workflows']) walk(path.join(projectRoot, dir));
  return out.join('\n');
}

describe('docker-compose.yml', () => {
  it('runs Temporal on PostgreSQL, the UI, a setup step and our worker', () => {
    assert.deepEqual(Object.keys(services).sort(), ['postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
    assert.match(services.postgresql.image!, /^postgres:/);
    assert.match(services.temporal.image!, /^temporalio\/auto-setup:/);
    assert.equal(services.temporal.environment!.DB, 'postgres12');
    assert.equal(services.temporal.environment!.POSTGRES_SEEDS, 'postgresql');
    assert.deepEqual(dependsOn(services.temporal), ['postgresql']);
    assert.match(services['temporal-ui'].image!, /^temporalio\/ui:/);
    assert.equal(services['temporal-ui'].environment!.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.ok(services.worker.build, 'the worker image is built from the repo');
  });

  it('publishes the frontend on 7233, the UI on 8080 and worker metrics on 9464', () => {
    assert.deepEqual(services.temporal.ports, ['7233:7233']);
    assert.deepEqual(services['temporal-ui'].ports, ['8080:8080']);
    const metrics = String(services.worker.environment!.FINETUNE_METRICS_ADDRESS);
    assert.equal(metrics, '0.0.0.0:9464');
    assert.deepEqual(services.worker.ports, ['9464:9464']);
  });

  it('registers every search attribute the dev server registers, before the worker starts', () => {
    const script = ([] as string[]).concat(services['temporal-setup'].command ?? []).join(' ');
    for (const attr of SEARCH_ATTRIBUTES) {
      const [name, type] = attr.split('=');
      assert.ok(script.includes(name), `temporal-setup registers ${name}`);
      assert.ok(script.includes(`${name}:${type}`), `${name} is a ${type}`);
    }
    assert.deepEqual(services.worker.depends_on, { 'temporal-setup': { condition: 'service_completed_successfully' } });
  });

  it('gives the worker the codec keys as a compose secret, and points the UI at the codec server', () => {
    const worker = services.worker as Service & { secrets?: string[] };
    assert.equal(worker.environment!.FINETUNE_CODEC_KEYS, '/run/secrets/codec-keys');
    assert.deepEqual(worker.secrets, ['codec-keys']);
    assert.match((compose as { secrets?: Record<string, { file: string }> }).secrets!['codec-keys'].file, /codec-keys\.json/);
    assert.equal(services['temporal-ui'].environment!.TEMPORAL_CODEC_ENDPOINT, 'http://localhost:8888');
    assert.equal(services['temporal-ui'].environment!.TEMPORAL_CODEC_INCLUDE_CREDENTIALS, 'true');
  });

  it('gives the worker the Temporal address and namespace, and only variables the worker reads', () => {
    const env = services.worker.environment!;
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(env.TEMPORAL_NAMESPACE, 'default');
    const sources = workerSources();
    for (const name of Object.keys(env)) {
      assert.ok(sources.includes(`env.${name}`), `the worker reads ${name} (process.env.${name} or env.${name})`);
    }
  });
});
