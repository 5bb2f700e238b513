/**
 * Recorded histories of fineTunePipeline (test/fixtures/histories/, made by
 * test/support/recordHistories.ts) replay against the current workflow code:
 * a change that would break runs already in flight fails here. Every folder
 * is replayed, the oldest recordings too: each holds runs started under the
 * code of its time, and those must still replay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR, RECORDED_UNDER, SCENARIOS } from '../support/recordHistories';
import { workflowBundle } from '../support/temporal';

/** Every history under HISTORIES_DIR, by its path there (older recordings at the top, newer in a folder per patch). */
const files = (fs.readdirSync(HISTORIES_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort();

function readHistory(file: string): temporal.api.history.v1.History {
  // fromObject, not the SDK's historyFromJSON: that one trips over a second protobufjs copy in node_modules.
  return temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
}

describe('recorded histories replay', () => {
  it('holds a recording of every scenario under the newest patch, and the older recordings', () => {
    const newest = new Set(files.filter((f) => path.dirname(f) === RECORDED_UNDER).map((f) => path.basename(f, '.json')));
    const missing = SCENARIOS.map((s) => s.name).filter((n) => !newest.has(n));
    assert.deepEqual(missing, [], `record them: node dist/test/support/recordHistories.js ${missing.join(' ')}`);
    for (const old of ['succeeded', 'host-lost-in-sft', 'approved-at-gate', 'approved-by-update']) assert.ok(files.includes(`${old}.json`), `${old}.json is gone`);
  });

  it('has runs recorded under config-resolved read the config from resolveConfig, the older ones parse it in the workflow', () => {
    const firstActivity = (file: string) => readHistory(file).events?.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes?.activityType?.name;
    assert.equal(firstActivity(path.join('config-resolved', 'succeeded.json')), 'resolveConfig');
    assert.equal(firstActivity('succeeded.json'), 'prepareRun');
  });

  for (const file of files) {
    it(`replays ${file}`, async () => {
      // The workflow id is the scenario's name: the run id the workflow checks and names its hosts after.
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, readHistory(file), path.basename(file, '.json'));
    });
  }
});
