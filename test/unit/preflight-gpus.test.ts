import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedGpus } from '../../src/config/machineGpus';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { gceHost, remoteConfig } from '../support/config';

const BASE = remoteConfig('gpus');

test("preflight.gpus 'auto' expects the machine type's GPUs on gce and nothing on a local host", () => {
  assert.equal(expectedGpus(parseConfig({ ...BASE, host: gceHost('a2-highgpu-2g') })), 2);
  assert.equal(expectedGpus(parseConfig({ ...BASE, host: gceHost('a2-highgpu-1g') })), 1);
  assert.equal(expectedGpus(parseConfig({ ...BASE, store: 'store' })), null);
  assert.equal(expectedGpus(parseConfig({ ...BASE, store: 'store', preflight: { gpus: 1 } })), 1);
  assert.equal(expectedGpus(parseConfig({ ...BASE, host: gceHost('a2-highgpu-2g'), preflight: { gpus: 0 } })), 0);
});

test('preflight.gpus above the GPUs of the machine type is refused before a VM starts', () => {
  assert.throws(
    () => parseConfig({ ...BASE, host: gceHost('a2-highgpu-1g'), preflight: { gpus: 2 } }),
    (err: unknown) =>
      err instanceof ConfigInvalid && err.issues.some((i) => i.field === 'preflight.gpus' && i.value === 2 && /1 GPU\(s\) of host\.machine_type a2-highgpu-1g/.test(i.problem)),
  );
  assert.equal(parseConfig({ ...BASE, host: gceHost('a2-highgpu-2g'), preflight: { gpus: 1 } }).preflight.gpus, 1);
});
