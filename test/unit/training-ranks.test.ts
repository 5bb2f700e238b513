import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpusOfMachineType } from '../../src/config/machineGpus';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { trainedTokens } from '../../workflows/cost';
import { gceHost, remoteConfig } from '../support/config';

const BASE = remoteConfig('ranks');

test("sft and dpo default to 'auto' ranks (one per GPU of the host), or the number asked for", () => {
  const c = parseConfig(BASE);
  assert.equal(c.sft.ranks, 'auto');
  assert.equal(c.dpo.ranks, 'auto');
  assert.equal(parseConfig({ ...BASE, host: gceHost('a2-highgpu-1g') }).sft.ranks, 'auto', 'auto is never more than the GPUs');
  const two = parseConfig({ ...BASE, host: gceHost('a2-highgpu-2g'), sft: { ranks: 2 }, dpo: { ranks: 2 } });
  assert.equal(two.sft.ranks, 2);
  assert.equal(two.dpo.ranks, 2);
});

test('more ranks than the GCE machine type has GPUs is refused before a VM starts', () => {
  assert.throws(
    () => parseConfig({ ...BASE, host: gceHost('a2-highgpu-1g'), dpo: { ranks: 2 } }),
    (err: unknown) =>
      err instanceof ConfigInvalid && err.issues.some((i) => i.field === 'dpo.ranks' && i.value === 2 && /1 GPU\(s\) of host\.machine_type a2-highgpu-1g/.test(i.problem)),
  );
  // A local host's GPUs are not known here: the trainer checks them when the stage starts.
  assert.equal(parseConfig({ ...BASE, store: 'store', sft: { ranks: 4 } }).sft.ranks, 4);
  assert.throws(() => parseConfig({ ...BASE, sft: { ranks: 0 } }), ConfigInvalid);
});

test('GPUs per machine type come from its name', () => {
  assert.equal(gpusOfMachineType('a2-highgpu-2g'), 2);
  assert.equal(gpusOfMachineType('a2-megagpu-16g'), 16);
  assert.equal(gpusOfMachineType('a3-highgpu-8g'), 8);
  assert.equal(gpusOfMachineType('g2-standard-24'), 2);
  assert.equal(gpusOfMachineType('g2-standard-8'), 1);
  assert.equal(gpusOfMachineType('n1-standard-8'), undefined);
});

test('trained tokens count every rank: batch_size is per rank', () => {
  const p = { batch_size: 8, gradient_accumulation_steps: 1, max_length: 512 };
  assert.equal(trainedTokens('sft', 10, p), 10 * 8 * 512);
  assert.equal(trainedTokens('sft', 10, p, 2), 10 * 8 * 2 * 512);
  assert.equal(trainedTokens('dpo', 10, p, 2), 10 * 8 * 2 * 512 * 2);
});
