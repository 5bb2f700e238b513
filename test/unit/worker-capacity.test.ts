import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MAX_ACTIVITIES, maxConcurrentActivities, WorkerSettingsInvalid } from '../../workers/capacity';

test('a worker runs 1000 activities at once unless FINETUNE_WORKER_MAX_ACTIVITIES says otherwise', () => {
  assert.equal(DEFAULT_MAX_ACTIVITIES, 1000);
  assert.equal(maxConcurrentActivities({}), 1000);
  assert.equal(maxConcurrentActivities({ FINETUNE_WORKER_MAX_ACTIVITIES: '' }), 1000);
  assert.equal(maxConcurrentActivities({ FINETUNE_WORKER_MAX_ACTIVITIES: '250' }), 250);
});

test('a bad FINETUNE_WORKER_MAX_ACTIVITIES is refused, naming the variable, the value and the fix', () => {
  for (const bad of ['lots', '1', '0', '-5', '2.5', '1e999']) {
    assert.throws(
      () => maxConcurrentActivities({ FINETUNE_WORKER_MAX_ACTIVITIES: bad }),
      (err: Error) => err instanceof WorkerSettingsInvalid && err.message.includes(`FINETUNE_WORKER_MAX_ACTIVITIES="${bad}"`) && /at least 2: set it/.test(err.message),
    );
  }
});
