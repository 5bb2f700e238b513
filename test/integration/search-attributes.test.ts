/**
 * A dev server started without our search attributes (one left running by an
 * older version) gets the missing ones registered, so a run can start on it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { portOpen, SEARCH_ATTRIBUTES, temporalBinary } from '../../src/client/devServer';
import { temporalSettings } from '../../src/client/connection';
import { ensureSearchAttributes } from '../../src/client/searchAttributes';
import { freePort } from '../support/integration';
import { createFineTuneWorker } from '../../workers/worker';
import { scratchDir } from '../support/scratch';

let server: ChildProcess;
let address: string;

before(async () => {
  const port = await freePort();
  const dir = scratchDir('finetune-sa-');
  server = spawn(
    temporalBinary(),
    ['server', 'start-dev', '--headless', '--port', String(port), '--db-filename', path.join(dir, 't.db'), '--search-attribute', 'FinetuneStage=Keyword'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 60_000;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline) throw new Error('dev server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  address = `localhost:${port}`;
});
after(() => {
  server?.kill('SIGKILL');
});

describe('ensureSearchAttributes', () => {
  it('adds the attributes a server lacks, with their types, and nothing twice', async () => {
    const settings = temporalSettings({ TEMPORAL_ADDRESS: address });
    const added = await ensureSearchAttributes(settings);
    assert.deepEqual(
      added.sort(),
      SEARCH_ATTRIBUTES.map((a) => a.split('=')[0])
        .filter((n) => n !== 'FinetuneStage')
        .sort(),
    );
    const connection = await Connection.connect(settings.connection);
    try {
      const list = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      const custom = list.customAttributes ?? {};
      assert.equal(custom.FinetuneCostUsd, 4, 'FinetuneCostUsd is a Double');
      assert.equal(custom.FinetuneGate, 2, 'FinetuneGate is a Keyword');
    } finally {
      await connection.close();
    }
    assert.deepEqual(await ensureSearchAttributes(settings), []);
  });
});

describe('a worker that never ran', () => {
  it('closes, releasing its connection, so the error that stopped the run is the one shown', async () => {
    const settings = temporalSettings({ TEMPORAL_ADDRESS: address });
    const worker = await createFineTuneWorker(settings, 'never-runs');
    assert.equal(worker.worker.getState(), 'INITIALIZED');
    await worker.close(); // threw "Cannot close connection while Workers hold a reference to it"
    assert.equal(worker.worker.getState(), 'STOPPED');
  });
});
