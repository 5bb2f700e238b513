/**
 * The trainer image, built from this tree's trainer/Dockerfile on the real
 * docker daemon, runs a run's agent on a gce host exactly as on a VM. The
 * worker's GCE provider talks to the fake Compute API; each VM it makes runs
 * its own startup script (test/support/fakeVm.ts) with the real docker, so the
 * rendered `docker run` (--init, --user, --network host, the work folder
 * mounted at /work) starts the agent in the image, against a gs:// store on
 * the GCS emulator (reached on 127.0.0.1 through the host network). Mid-SFT
 * GCE preempts the VM: ACPI soft-off, systemd's ExecStop `docker stop`,
 * SIGTERM through docker-init to the agent, a committed checkpoint. The next
 * VM's container resumes from it and the run completes.
 *
 * No GPU here: preflight.gpus is 0, so the script runs the image without
 * --gpus and the NVIDIA runtime is not exercised.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRun } from '../../src/client/runs';
import type { GceHostConfig } from '../../src/config/schema';
import { AGENT_UID } from '../../src/hosts/startupScript';
import { projectRoot } from '../../src/paths';
import { stageKey, type StageProgressFile, type StageStatusFile } from '../../src/jobs/contract';
import { openStore } from '../../src/store/open';
import { progressQuery } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/pipeline';
import type { RunProgress } from '../../workflows/progress';
import { containerProcesses, docker, DOCKER, ensureDockerDaemon, trainerImage, type ContainerProcess, type DockerDaemon } from '../support/docker';
import type { FakeCompute } from '../support/fakeCompute';
import { PREEMPTION_GRACE_MS, type FakeVm } from '../support/fakeVm';
import { startGceWorld, type GceWorld } from '../support/gceWorld';
import { fastConfig, type Harness } from '../support/integration';

const BUCKET = 'finetune-runs';
const STORE = `gs://${BUCKET}/finetune`;
const runId = 'ct-image-preempt-1';
const taskQueue = 'ct-trainer-image';
const CONTAINER = 'finetune-agent';

interface Inspect {
  Config: { User: string; Image: string };
  HostConfig: { Init: boolean | null; NetworkMode: string };
  Mounts: { Type: string; Source: string; Destination: string }[];
}

let daemon: DockerDaemon;
let image: string;
let world: GceWorld;
let h: Harness;
let fake: FakeCompute;
let vms: FakeVm[];
let shutdowns: Promise<unknown>[];
let result: PipelineResult;
let progress: RunProgress;
/** What the first VM's container was while SFT ran, and how it stopped. */
let first: {
  inspect: Inspect;
  processes: ContainerProcess[];
  agentDirUid: number;
  checkpoint: number;
  shutdown: { stoppedCleanly: boolean; seconds: number };
};

/** Once SFT on the first VM has committed a checkpoint: look at its container, then GCE preempts that VM. */
async function preemptMidSft(): Promise<typeof first> {
  const store = openStore(STORE);
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const p = await store.getJson<StageProgressFile>(stageKey(runId, 'sft', 'progress.json'));
    if (p?.job_id === 'sft-1' && (p.last_checkpoint_step ?? 0) >= 5) {
      const vm = vms[0];
      const [inspect] = JSON.parse(await docker(['inspect', CONTAINER])) as Inspect[];
      const processes = await containerProcesses(CONTAINER);
      const agentDirUid = fs.statSync(path.join(vm.root, 'var/lib/durable-finetune/agent')).uid;
      let shutdown!: { stoppedCleanly: boolean; seconds: number };
      await fake.preempt(vm.name, async () => {
        shutdown = await vm.shutdown();
      });
      return { inspect, processes, agentDirUid, checkpoint: p.last_checkpoint_step!, shutdown };
    }
    if (Date.now() > deadline) throw new Error(`SFT never reached a committed checkpoint in the first VM's container:\n${vms[0]?.serial()}`);
    await sleep(200);
  }
}

before(async () => {
  daemon = await ensureDockerDaemon();
  image = await trainerImage();
  world = await startGceWorld('container', [BUCKET], { docker: DOCKER });
  ({ h, fake, vms, shutdowns } = world);
  // Small batches and a few eval items: the point is the container, not the training.
  const evalItems = path.join(h.dir, 'eval.jsonl');
  fs.writeFileSync(evalItems, fs.readFileSync(path.join(projectRoot, 'examples/tiny/data/eval.jsonl'), 'utf8').split('\n').slice(0, 12).join('\n') + '\n');
  const config = fastConfig(h.dir, {
    store: STORE,
    sft: { max_steps: 15, save_steps: 5, batch_size: 8, ranks: 1 },
    dpo: { max_steps: 2, save_steps: 2, batch_size: 4, probe_items: 4 },
    generate: { max_new_tokens: 16 },
    // No GPUs here: the startup script runs the image without --gpus and needs no driver.
    preflight: { gpus: 0 },
  });
  config.data.eval = evalItems;
  config.host = {
    provider: 'gce',
    project: 'finetune-test',
    zones: ['us-central1-a', 'us-central1-b'],
    machine_type: 'a2-highgpu-1g',
    trainer_image: image,
    agent_start_timeout_s: 180,
  } as GceHostConfig;
  const { worker } = await h.worker(taskQueue);
  const handle = await startRun(h.client, config, { taskQueue, runId });
  await worker.runUntil(async () => {
    // A run that ends first (e.g. the agent cannot start in the image) fails the wait at once.
    const ended = handle.result().then((r) => Promise.reject(new Error(`the run ended before SFT was preempted: ${JSON.stringify(r)}\n${vms[0]?.serial()}`)));
    ended.catch(() => undefined);
    first = await Promise.race([preemptMidSft(), ended]);
    result = await handle.result();
    progress = await handle.query(progressQuery);
  });
});

after(async () => {
  await world?.close();
  await daemon?.stop();
});

describe('the trainer image runs the agent as a VM does, and a preempted container resumes in a new one', () => {
  const status = (stage: string) => openStore(STORE).getJson<StageStatusFile>(stageKey(runId, stage as never, 'status.json'));

  it('the image runs as the agent user of the startup script', async () => {
    const [img] = JSON.parse(await docker(['image', 'inspect', image])) as { Config: { User: string } }[];
    assert.equal(img.Config.User, `${AGENT_UID}:${AGENT_UID}`, 'trainer/Dockerfile USER and AGENT_UID (src/hosts/startupScript.ts) agree');
  });

  it("the startup script's docker run: the image, --init, --user, the host network, the work folder at /work", () => {
    const { inspect } = first;
    assert.equal(inspect.Config.Image, image);
    assert.equal(inspect.Config.User, `${AGENT_UID}:${AGENT_UID}`);
    assert.equal(inspect.HostConfig.Init, true);
    assert.equal(inspect.HostConfig.NetworkMode, 'host');
    assert.deepEqual(
      inspect.Mounts.map((m) => [m.Type, m.Source, m.Destination]),
      [['bind', path.join(vms[0].root, 'var/lib/durable-finetune'), '/work']],
    );
  });

  it('PID 1 is docker-init; the agent under it and its stage processes run as uid 1000, and write the work folder as it', (t) => {
    const [init, ...rest] = first.processes;
    t.diagnostic(first.processes.map((p) => `${p.pid}<-${p.ppid} uid ${p.uid} ${p.cmdline.slice(0, 4).join(' ')}`).join('; '));
    assert.match(init.comm, /^(docker-init|tini)/);
    const agent = rest.find((p) => p.cmdline.includes('durable_finetune.agent'));
    assert.ok(agent, 'the agent process runs in the container');
    assert.equal(agent.ppid, init.pid, 'the agent is the child of docker-init (no shell in between)');
    assert.ok(
      rest.some((p) => p.cmdline.some((a) => a.includes('durable_finetune.stages.sft'))),
      'SFT runs in the container',
    );
    for (const p of first.processes) assert.equal(p.uid, AGENT_UID, `${p.comm} (pid ${p.pid}) runs as uid ${p.uid}`);
    assert.equal(first.agentDirUid, AGENT_UID, "the agent's folder in the mounted work folder");
  });

  it('docker stop at the ACPI soft-off stopped the container within the 30 s GCE gives', (t) => {
    t.diagnostic(`unit stopped in ${first.shutdown.seconds.toFixed(1)} s`);
    assert.equal(first.shutdown.stoppedCleanly, true);
    assert.ok(first.shutdown.seconds * 1000 < PREEMPTION_GRACE_MS);
  });

  it('the next VM resumed SFT from the checkpoint SIGTERM committed, with 0 steps redone, and the run completed', async (t) => {
    const sft = (await status('sft'))!;
    const loss = progress.losses.find((l) => l.stage === 'sft')!;
    t.diagnostic(`checkpoint ${first.checkpoint} when preempted; lost at ${loss.atStep}; sft-2 resumed from ${sft.resumed_from_step}`);
    assert.equal(progress.state, 'succeeded');
    assert.equal(vms.length, 2, `VMs made: ${vms.map((v) => v.name).join(', ')}`);
    assert.equal(result.hostLosses, 1);
    assert.equal(loss.preempted, true);
    assert.equal(sft.job_id, 'sft-2');
    assert.equal(sft.state, 'succeeded');
    assert.ok((sft.resumed_from_step ?? -1) >= first.checkpoint, `resumed from ${sft.resumed_from_step}`);
    assert.equal(sft.resumed_from_step, loss.atStep, 'the step the stage reached is the step it committed');
    assert.equal(loss.stepsRedone, 0);
    for (const stage of ['merge', 'dpo', 'generate']) assert.equal((await status(stage))?.state, 'succeeded', stage);
    assert.match(vms[1].serial(), /agent: started sft-2/, "the second VM's container ran the resumed SFT");
  });

  it('leaves no container and no VM behind', async () => {
    await Promise.all(shutdowns);
    assert.equal((await docker(['ps', '-aq', '--filter', `name=^${CONTAINER}$`])).trim(), '');
    assert.deepEqual(
      fake.live().map((i) => i.name),
      [],
    );
    for (const vm of vms) assert.equal(await vm.running(), false, `${vm.name} still has processes`);
  });
});
