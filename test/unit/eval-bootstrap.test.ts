import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterBootstrap, pairedDelta, seededRandom } from '../../src/eval/bootstrap';

const values = Array.from({ length: 60 }, (_, i) => ({ cluster: `doc-${i % 12}`, value: i % 12 < 4 ? 1 : i % 3 === 0 ? 1 : 0 }));

test('the interval is deterministic for a seed, contains the mean, and changes with the seed', () => {
  const a = clusterBootstrap(values, { seed: 7 });
  assert.deepEqual(clusterBootstrap([...values].reverse(), { seed: 7 }), a);
  assert.ok(a.lo <= a.mean && a.mean <= a.hi);
  assert.ok(a.hi - a.lo > 0.05);
  assert.equal(a.n, 60);
  assert.equal(a.clusters, 12);
  const others = [1, 2, 3, 4, 5].map((seed) => clusterBootstrap(values, { seed }));
  assert.ok(
    others.some((o) => o.lo !== a.lo || o.hi !== a.hi),
    'another seed draws other resamples',
  );
});

test('resampling by cluster gives a wider interval than by item when clusters hang together', () => {
  const clustered = Array.from({ length: 100 }, (_, i) => ({ cluster: `d${Math.floor(i / 10)}`, value: Math.floor(i / 10) % 2 }));
  const byCluster = clusterBootstrap(clustered);
  const byItem = clusterBootstrap(clustered.map((v, i) => ({ ...v, cluster: `i${i}` })));
  assert.ok(byCluster.hi - byCluster.lo > 1.5 * (byItem.hi - byItem.lo));
});

test('a single cluster falls back to resampling items', () => {
  const one = clusterBootstrap(values.map((v) => ({ ...v, cluster: 'all' })));
  assert.ok(one.hi > one.lo);
  assert.equal(one.clusters, 1);
});

test('paired deltas on the same items are tighter than the spread of either model', () => {
  const pairs = values.map((v, i) => ({ cluster: v.cluster, a: v.value, b: i % 10 === 0 ? 1 : v.value }));
  const d = pairedDelta(pairs);
  assert.ok(d.mean > 0);
  assert.ok(d.lo >= 0, `a change that only ever helps has a delta interval at or above 0 (got ${d.lo})`);
  const alone = clusterBootstrap(values);
  assert.ok(d.hi - d.lo < alone.hi - alone.lo);
});

test('the seeded generator is uniform enough and repeatable', () => {
  const r = seededRandom(1);
  const xs = Array.from({ length: 10000 }, r);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.equal(seededRandom(1)(), xs[0]);
});
