/**
 * What a worker decides about the reaper schedule as it starts, before it
 * asks the server anything: opt out, no project, or a bad interval.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { scheduleReaperOnStart } from '../../src/client/reaper';

// These paths never reach the server: a client that throws proves it.
const noServer = new Proxy({}, { get: () => assert.fail('the server was asked') }) as unknown as Client;

describe('scheduleReaperOnStart', () => {
  it('creates nothing with FINETUNE_REAPER=off, and says so', async () => {
    assert.deepEqual(await scheduleReaperOnStart(noServer, 'q', { GOOGLE_CLOUD_PROJECT: 'p', FINETUNE_REAPER: 'off' }), {
      scheduled: false,
      why: 'FINETUNE_REAPER=off',
    });
  });

  it('creates nothing for a worker that knows no GCP project, and names the variable that would', async () => {
    const outcome = await scheduleReaperOnStart(noServer, 'q', {});
    assert.equal(outcome.scheduled, false);
    assert.match(outcome.scheduled ? '' : outcome.why, /GOOGLE_CLOUD_PROJECT/);
  });

  it('refuses an interval it cannot read, naming the variable and the fix', async () => {
    await assert.rejects(
      scheduleReaperOnStart(noServer, 'q', { GOOGLE_CLOUD_PROJECT: 'p', FINETUNE_REAPER: 'hourly' }),
      /FINETUNE_REAPER=hourly: use a number and a unit, e\.g\. 30m, 6h, or off/,
    );
  });
});
