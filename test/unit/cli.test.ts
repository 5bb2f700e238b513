/** The `finetune` command without a server: its commands, usage errors and an unreachable Temporal. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { finetune, freePortEnv } from '../support/cli';
import { scratchDir } from '../support/scratch';

describe('finetune (no server needed)', () => {
  it('lists every command in --help and exits 0', async () => {
    const r = await finetune(['--help']);
    assert.equal(r.code, 0);
    for (const cmd of ['validate', 'run', 'status', 'list', 'watch', 'cancel', 'approve', 'reject', 'report', 'schedule', 'reap', 'eval', 'models', 'plan', 'dev']) {
      assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), cmd);
    }
    assert.match(r.stdout, /Exit codes: 0 ok, 1 the run failed or was cancelled, 2 bad input or config, 3 no such run or schedule, 4 Temporal unreachable/);
  });

  it('exits 4 and says how to fix it when Temporal does not answer; the codec key file made on first use is told on stderr, never in the --json document', async () => {
    // A fresh state folder: this call makes the key file (its warning once went to stdout and broke --json).
    const home = scratchDir('finetune-home-');
    try {
      const r = await finetune(['status', 'some-run', '--json'], { ...(await freePortEnv()), FINETUNE_HOME: home });
      assert.equal(r.code, 4);
      assert.equal(JSON.parse(r.stdout).exitCode, 4);
      assert.match(r.stderr, /Start `finetune dev`.*TEMPORAL_ADDRESS/);
      assert.match(r.stderr, /created the payload codec key file .*codec-keys\.json/);
      assert.ok(fs.existsSync(path.join(home, 'codec-keys.json')));
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('exits 2 for a certificate without its key', async () => {
    const r = await finetune(['list'], { TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/hostname', TEMPORAL_TLS_CLIENT_KEY_PATH: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /TEMPORAL_TLS_CLIENT_CERT_PATH is set but TEMPORAL_TLS_CLIENT_KEY_PATH is not/);
  });

  it('exits 2 for a run id or schedule id that breaks the run id rule, before reading the config or reaching Temporal', async () => {
    const env = await freePortEnv();
    const run = await finetune(['run', 'no-such-config.yaml', '--run-id=-rf'], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--run-id "-rf" is invalid: starts with "-", which a command line reads as an option; a run id is 1-128 letters/);
    const schedule = await finetune(['schedule', 'create', 'nightly/a', 'no-such-config.yaml'], env);
    assert.equal(schedule.code, 2);
    assert.match(schedule.stderr, /schedule id "nightly\/a" is invalid: holds "\/"/);
  });
});
