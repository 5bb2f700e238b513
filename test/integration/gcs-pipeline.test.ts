/**
 * The whole tiny pipeline with a gs:// store on the GCS emulator, through the
 * official clients on both sides (worker: @google-cloud/storage, agent and
 * stages: google-cloud-storage), with a host lost mid-SFT: the agent's and
 * the stage's process groups are SIGKILLed together, as when a VM vanishes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRun } from '../../src/client/runs';
import { hostIdOf } from '../../src/hosts/provider';
import { agentKey, stageKey, type AgentHeartbeat, type StageProgressFile, type StageStatusFile } from '../../src/jobs/contract';
import { GcsStore } from '../../src/store/gcs';
import { openStore } from '../../src/store/open';
import { progressQuery } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/pipeline';
import type { RunProgress } from '../../workflows/progress';
import { startGcsEmulator, type GcsEmulator } from '../support/gcsEmulator';
import { fastConfig, startHarness, type Harness } from '../support/integration';

const BUCKET = 'finetune-runs';
const runId = 'it-gcs-kill-1';
const taskQueue = 'it-gcs-pipeline';
let h: Harness;
let gcs: GcsEmulator;
let result: PipelineResult;
let progress: RunProgress;
let killedAt: { step: number; checkpoint: number; agentPid: number; stagePid: number };
const savedHost = process.env.STORAGE_EMULATOR_HOST;

/** Waits until SFT's first job has passed a committed checkpoint, then kills its host. */
async function killHostMidSft(storeUri: string): Promise<typeof killedAt> {
  const store = openStore(storeUri);
  const hostId = hostIdOf(runId, 1);
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const p = await store.getJson<StageProgressFile>(stageKey(runId, 'sft', 'progress.json'));
    const agent = await store.getJson<AgentHeartbeat>(agentKey(runId, hostId));
    if (p?.job_id === 'sft-1' && (p.last_checkpoint_step ?? 0) >= 10 && agent?.job_id === 'sft-1' && agent.stage_pid) {
      const killed = { step: p.step, checkpoint: p.last_checkpoint_step!, agentPid: agent.pid, stagePid: agent.stage_pid };
      process.kill(-agent.pid, 'SIGKILL');
      // The stage lives in the agent's group; were it in its own, it dies too, as on a lost VM.
      try {
        process.kill(-agent.stage_pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
      return killed;
    }
    if (Date.now() > deadline) throw new Error('SFT never reached a committed checkpoint');
    await sleep(200);
  }
}

before(async () => {
  gcs = await startGcsEmulator([BUCKET]);
  // Set before the worker starts: its activities and the agents it spawns read it.
  process.env.STORAGE_EMULATOR_HOST = gcs.host;
  h = await startHarness('gcs-pipeline');
  // Shorter than fastConfig: the point is the store, not the training, and every
  // checkpoint is a round of uploads to the emulator.
  const config = fastConfig(h.dir, {
    store: `gs://${BUCKET}/finetune`,
    sft: { max_steps: 30, save_steps: 10 },
    dpo: { max_steps: 4, save_steps: 4 },
    generate: { max_new_tokens: 32 },
  });
  const { worker } = await h.worker(taskQueue);
  const handle = await startRun(h.client, config, { taskQueue, runId });
  await worker.runUntil(async () => {
    killedAt = await killHostMidSft(config.store);
    result = await handle.result();
    progress = await handle.query(progressQuery);
  });
});
after(async () => {
  await h?.close();
  await gcs?.stop();
  if (savedHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = savedHost;
});

describe('the tiny pipeline on a gs:// store, with a host SIGKILLed mid-SFT', () => {
  const status = (stage: string) => openStore(result.storeUri).getJson<StageStatusFile>(stageKey(runId, stage as never, 'status.json'));

  it('finishes and promotes a model into the bucket', async () => {
    assert.equal(progress.state, 'succeeded');
    assert.equal(result.storeUri, `gs://${BUCKET}/finetune`);
    assert.ok(result.promoted.uri.startsWith(`gs://${BUCKET}/finetune/models/${runId}/model`));
    const models = new GcsStore(`gs://${BUCKET}/finetune/models`);
    assert.ok((await models.list(`${runId}/model`)).some((k) => k.endsWith('.safetensors')));
  });

  it('counts the lost host and moves SFT to a second host', () => {
    assert.ok(result.hostLosses >= 1, `host losses: ${result.hostLosses}`);
    assert.ok(progress.hostLosses >= 1);
  });

  it('resumes the second SFT job from a committed checkpoint, not from step 0', async (t) => {
    const sft = (await status('sft'))!;
    t.diagnostic(`killed at step ${killedAt.step} (last checkpoint ${killedAt.checkpoint}); sft-2 resumed from ${sft.resumed_from_step}`);
    assert.equal(sft.state, 'succeeded');
    assert.equal(sft.job_id, 'sft-2');
    assert.ok((sft.resumed_from_step ?? -1) >= 10, `resumed from ${sft.resumed_from_step}`);
    assert.ok((sft.resumed_from_step ?? -1) <= killedAt.step, `resumed from ${sft.resumed_from_step}, killed at ${killedAt.step}`);
    assert.equal((sft.resumed_from_step ?? -1) % 10, 0, 'a checkpoint step (save_steps 10)');
    const committed = await openStore(result.storeUri).getJson<{ step: number }>(stageKey(runId, 'sft', `checkpoints/checkpoint-${sft.resumed_from_step}/COMMITTED.json`));
    assert.equal(committed?.step, sft.resumed_from_step);
  });

  it('leaves no process of the killed host behind', () => {
    for (const pid of [killedAt.agentPid, killedAt.stagePid]) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} is gone`);
    }
  });

  it('runs every later stage on the new host and writes metrics', async () => {
    for (const stage of ['merge', 'dpo', 'generate']) assert.equal((await status(stage))?.state, 'succeeded', stage);
    assert.ok(await openStore(result.storeUri).getJson(`runs/${runId}/report/metrics.json`));
  });
});
