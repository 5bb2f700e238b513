/**
 * Recorded histories of fineTunePipeline (test/fixtures/histories/, made by
 * test/support/recordHistories.ts) replay against the current workflow code:
 * a change that would break runs already in flight fails here.
 */
import { describe, it } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from '../support/recordHistories';
import { workflowBundle } from '../support/temporal';

const files = fs.readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

describe('recorded histories replay', () => {
  it('has histories to replay', () => {
    if (files.length < 3) throw new Error(`only ${files.length} histories in ${HISTORIES_DIR}`);
  });
  for (const file of files) {
    it(`replays ${file}`, async () => {
      // fromObject, not the SDK's historyFromJSON: that one trips over a second protobufjs copy in node_modules.
      const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, path.basename(file, '.json'));
    });
  }
});
