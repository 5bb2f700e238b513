/**
 * The simulated host provider: the pipeline's activities for one run, played
 * against the time-skipping server's clock. Booting, training, uploading a
 * checkpoint, noticing a loss and deleting a VM each move that clock by the
 * seconds they would take (the activity sleeps through the test environment,
 * heartbeating so the workflow's heartbeat timeout holds), so the workflow's
 * own Date.now(), timers and cost ledger see the simulated hours. Preemptions
 * come from the trace; what the job has committed when one strikes follows
 * the policy. Every billed second is put in one bucket: boot, productive,
 * upload, redone, or other (notice tail, detection, partial steps, delete).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveActivities } from '../../activities/resolve';
import type { Activities, HostLostDetails, JobResult, RunJobInput } from '../../activities/types';
import type { HostLease } from '../../src/hosts/provider';
import { HOST_LOST } from '../../src/jobs/failures';
import { seededRandom } from '../../src/eval/bootstrap';
import { drawBoot, type Assumptions, type BootImage, type Policy, type StageWork, type UploadMode } from './model';
import type { Preemption } from './traces';

/**
 * Each sleep is at most a quarter of the activity's heartbeat timeout (900 s for runJob with the
 * bench config's monitor.poll_interval_s, runOne.ts says why; 5 minutes for provisionHost), so a
 * heartbeat that reaches the server late on a busy machine still lands in time.
 */
const CHUNK_MS = 200_000;
const HEARTBEAT_LEAD_MS = 10;

export interface Strike {
  plannedMs: number;
  /** The server's clock when the host was struck (the notice, or the hard stop for a VM still booting). */
  observedMs: number;
  hostId: string;
  during: string;
}

export interface SimLoss {
  hostId: string;
  stage: string;
  /** When the workflow is told (the activity fails): the loss time the workflow records. */
  detectedMs: number;
  lastStep: number;
  committed: number | null;
}

export interface SimHost {
  hostId: string;
  createdMs: number;
  readyMs: number;
  /** The next preemption that strikes it (absolute ms), or null. */
  preemptMs: number | null;
  billedEndMs: number | null;
}

export interface SimLedger {
  billedS: number;
  bootS: number;
  productiveS: number;
  uploadS: number;
  redoneS: number;
}

export class SimWorld {
  readonly hosts = new Map<string, SimHost>();
  readonly strikes: Strike[] = [];
  readonly losses: SimLoss[] = [];
  /** Boots lost to a preemption before the agent came up (retried inside provisionHost). */
  bootLosses = 0;
  /** Activities that ran again (a timeout or a failed attempt): the simulated clock is then not to be trusted. */
  readonly retried: string[] = [];
  /** The server's clock when the last simulated work ended: the run's end (the server skips ahead once the workflow is done). */
  lastMs: number;
  /** Steps run per job tag, and the newest committed checkpoint per job tag (the store). */
  readonly executed = new Map<string, number>();
  readonly committed = new Map<string, number>();
  readonly finished = new Set<string>();
  /** Every job the workflow posted: where it ran and the step it started from. */
  readonly jobs: { jobId: string; hostId: string; resume: boolean; fromStep: number }[] = [];
  readonly ledger: SimLedger = { billedS: 0, bootS: 0, productiveS: 0, uploadS: 0, redoneS: 0 };
  private readonly planned: { atMs: number; zone?: string; used: boolean }[];

  constructor(
    readonly env: TestWorkflowEnvironment,
    readonly a: Assumptions,
    readonly policy: Policy,
    readonly t0Ms: number,
    trace: Preemption[],
    readonly seed: number,
    readonly image: BootImage = 'stock',
    readonly uploads: UploadMode = 'inline',
    readonly zone = 'us-central1-a',
  ) {
    this.lastMs = t0Ms;
    this.planned = trace.filter((p) => p.zone === undefined || p.zone === zone).map((p) => ({ atMs: t0Ms + p.atS * 1000, used: false }));
  }

  /** Moves the server's clock to `targetMs`, heartbeating between sleeps; returns the clock after. */
  async advanceTo(targetMs: number): Promise<number> {
    const ctx = Context.current();
    if (ctx.info.attempt > 1) this.retried.push(`${ctx.info.activityType} attempt ${ctx.info.attempt}`);
    // An activity without a heartbeat timeout reports 0.
    const chunk = Math.min(CHUNK_MS, (ctx.info.heartbeatTimeoutMs || 4 * CHUNK_MS) / 4);
    for (;;) {
      const now = await this.env.currentTimeMs();
      if (now >= targetMs) {
        this.lastMs = Math.max(this.lastMs, now);
        return now;
      }
      ctx.heartbeat();
      // The heartbeat travels on its own: let it reach the server before the clock moves past it.
      await new Promise((r) => setTimeout(r, HEARTBEAT_LEAD_MS));
      await this.env.sleep(Math.min(chunk, targetMs - now));
    }
  }

  /** The first preemption after `fromMs` not yet spent: it strikes the host created then. */
  private nextPreemption(fromMs: number): number | null {
    for (const p of this.planned) {
      if (!p.used && p.atMs > fromMs) {
        p.used = true;
        return p.atMs;
      }
    }
    return null;
  }

  /** Preemptions that found no host (between a delete and the next create). */
  missed(untilMs: number): number {
    return this.planned.filter((p) => !p.used && p.atMs <= untilMs).length;
  }

  private bill(host: SimHost, endMs: number): void {
    if (host.billedEndMs !== null) return;
    host.billedEndMs = endMs;
    this.ledger.billedS += (endMs - host.createdMs) / 1000;
  }

  activities(): Activities {
    // The activities are methods of an object literal: they reach the simulated world by this name.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const world = this;
    const a = this.a;
    const p = a.policies[this.policy];
    return {
      ...resolveActivities(),
      async prepareRun({ runId, config }) {
        return {
          config,
          storeUri: 'file:///sim/store',
          inputs: {
            base_model: `runs/${runId}/inputs/base-model`,
            sft_data: `runs/${runId}/data/sft.jsonl`,
            preference_data: `runs/${runId}/data/preferences.jsonl`,
            eval_data: `runs/${runId}/data/eval.jsonl`,
          },
        };
      },

      async provisionHost({ runId, hostIndex }): Promise<HostLease> {
        let now = await world.env.currentTimeMs();
        if (hostIndex > 1 && p.relaunchBackoffS > 0) now = await world.advanceTo(now + p.relaunchBackoffS * 1000);
        const u = seededRandom(world.seed * 1000 + hostIndex);
        for (;;) {
          const bootS = Object.values(drawBoot(a.boot[world.image], u)).reduce((x, y) => x + y, 0);
          const host: SimHost = { hostId: `${runId}-h${hostIndex}`, createdMs: now, readyMs: now + bootS * 1000, preemptMs: world.nextPreemption(now), billedEndMs: null };
          if (host.preemptMs !== null && host.preemptMs < host.readyMs) {
            // Preempted while booting: the VM is gone before its agent starts; the provisioner sees it and creates another.
            const struck = await world.advanceTo(host.preemptMs);
            world.strikes.push({ plannedMs: host.preemptMs, observedMs: struck, hostId: host.hostId, during: 'boot' });
            world.bill(host, host.preemptMs);
            world.ledger.bootS += (host.preemptMs - host.createdMs) / 1000;
            world.bootLosses += 1;
            now = await world.advanceTo(host.preemptMs + a.pollS * 1000);
            continue;
          }
          await world.advanceTo(host.readyMs);
          world.ledger.bootS += bootS;
          world.hosts.set(host.hostId, host);
          return {
            provider: 'gce',
            hostId: host.hostId,
            runId,
            hostIndex,
            details: { zone: world.zone, instance: host.hostId },
            provisionedAt: new Date(host.createdMs).toISOString(),
            // The workflow bills the boot as the provider times it (docs/cost.md).
            readyAt: new Date(host.readyMs).toISOString(),
          };
        }
      },

      async runJob(input: RunJobInput): Promise<JobResult> {
        return world.runJob(input);
      },

      async releaseHost(lease) {
        const host = world.hosts.get(lease.hostId);
        if (!host) return;
        // Already stopped (the preemption's hard stop): its bill ended then.
        if (host.billedEndMs !== null) return { deletedAt: new Date(host.billedEndMs).toISOString() };
        const now = await world.advanceTo(0);
        if (host.preemptMs !== null && host.preemptMs <= now) {
          world.bill(host, host.preemptMs);
          return { deletedAt: new Date(host.preemptMs).toISOString() };
        }
        // Deleting a running VM: billed until the delete completes, or until the preemption stops it first.
        const end = now + a.deleteS * 1000;
        const billedEnd = host.preemptMs !== null && host.preemptMs < end ? host.preemptMs : end;
        await world.advanceTo(end);
        world.bill(host, billedEnd);
        return { deletedAt: new Date(billedEnd).toISOString() };
      },
      async scoreRun() {
        return { primaryMetric: 'tool_call_match', n: 100, models: { base: { tool_call_match: 0.1 }, sft: { tool_call_match: 0.8 }, dpo: { tool_call_match: 0.82 } } };
      },
      async recordGate() {},
      async promoteModel({ runId }) {
        return { uri: `file:///sim/models/${runId}` };
      },
      async notifyWebhook() {
        return { delivered: true, attempts: 1 };
      },
    };
  }

  private async runJob({ job, lease }: RunJobInput): Promise<JobResult> {
    const a = this.a;
    const p = a.policies[this.policy];
    const host = this.hosts.get(lease.hostId);
    if (!host) throw new Error(`simulated host ${lease.hostId} was never provisioned`);
    const work: StageWork = a.stages[job.stage as keyof Assumptions['stages']] ?? { seconds: 0 };
    const tag = job.job_id.replace(/-\d+$/, '');
    const startMs = await this.env.currentTimeMs();
    const stepped = work.steps !== undefined;
    const total = work.steps ?? 1;
    const stepMs = stepped ? work.stepS! * 1000 : (work.seconds ?? 0) * 1000;
    const saveEvery = stepped && p.periodicCheckpoints ? work.saveSteps! : null;
    const uploadMs = a.uploadS * 1000;
    const from = stepped && job.resume ? (this.committed.get(tag) ?? 0) : 0;
    this.jobs.push({ jobId: job.job_id, hostId: host.hostId, resume: job.resume, fromStep: from });
    const timeline = new Timeline(startMs, from, total, stepMs, saveEvery, uploadMs, this.uploads === 'background');

    const P = host.preemptMs;
    const noticeMs = P === null ? null : P - a.noticeS * 1000;
    // A job ends cleanly if it finishes before the notice (before the stop, for code that ignores SIGTERM).
    const cutoff = P === null ? Infinity : p.noticeCheckpoint ? noticeMs! : P;
    if (timeline.endMs <= cutoff) {
      await this.advanceTo(timeline.endMs);
      this.ran(tag, total - from, timeline.heldS(), stepped);
      this.committed.delete(tag);
      this.finished.add(tag);
      this.ledger.productiveS += stepped ? (total * stepMs) / 1000 : stepMs / 1000;
      return {
        jobId: job.job_id,
        stage: job.stage,
        output: { key: `runs/${job.run_id}/stages/${job.stage}/output/${job.stage === 'sft' ? 'adapter' : 'model'}`, fingerprint: `sha256:${job.stage}` },
        metrics: {},
        stepsDone: stepped ? total : 0,
        resumedFromStep: from,
        seconds: (timeline.endMs - startMs) / 1000,
      };
    }

    // Struck: the notice reaches the host at P - 30 s.
    const struck = await this.advanceTo(Math.max(startMs, noticeMs!));
    this.strikes.push({ plannedMs: Math.max(startMs, noticeMs!), observedMs: struck, hostId: host.hostId, during: noticeMs! < startMs ? 'before-job' : job.stage });
    let lastStep: number;
    let committedStep: number | null = this.committed.get(tag) ?? null;
    let detectedMs: number;
    const firstPollAfter = (t: number, every: number) => startMs + Math.ceil(Math.max(0, t - startMs) / every) * every;
    const notice = stepped && p.noticeCheckpoint ? timeline.noticeCommit(noticeMs!) : null;
    if (notice && notice.commitMs <= P!) {
      // SIGTERM: the step in flight ends, its checkpoint uploads and commits within the notice; the stage exits interrupted.
      lastStep = notice.step;
      committedStep = notice.step;
      const seen = firstPollAfter(noticeMs!, a.pollS * 1000);
      detectedMs = seen >= notice.commitMs ? seen : seen + Math.ceil((notice.commitMs - seen) / 1000) * 1000;
      // The waits on periodic uploads before the stopping step, and the save that commits it.
      this.ran(tag, lastStep - from, notice.heldS, stepped);
    } else {
      // The hard stop at P: what ran by then counts, only uploads finished by then committed.
      const at = timeline.at(P!);
      lastStep = stepped ? at.stepsDone : 0;
      if (at.committed !== null) committedStep = at.committed;
      detectedMs = p.detection === 'statusPoll' ? firstPollAfter(P!, p.statusPollS * 1000) : firstPollAfter(noticeMs!, a.pollS * 1000) + a.goneWaitS * 1000;
      this.ran(tag, lastStep - from, timeline.heldS(P!), stepped);
      if (!stepped) this.ledger.redoneS += (Math.min(P!, timeline.endMs) - startMs) / 1000;
    }
    if (committedStep !== null) this.committed.set(tag, committedStep);
    // Billing stops at the hard stop; the workflow learns of the loss at detectedMs (its next poll).
    this.bill(host, P!);
    await this.advanceTo(Math.max(detectedMs, struck));
    this.losses.push({ hostId: host.hostId, stage: job.stage, detectedMs, lastStep, committed: committedStep });
    const details: HostLostDetails = {
      hostId: host.hostId,
      reason: `preempted by Compute Engine (simulated, trace at +${Math.round((P! - this.t0Ms) / 1000)} s)`,
      preempted: true,
      lastStep,
      lastCheckpointStep: stepped ? committedStep : null,
      jobId: job.job_id,
      resumedFromStep: stepped ? from : null,
      secondsPerStep: stepped ? work.stepS! : null,
    };
    throw ApplicationFailure.create({ type: HOST_LOST, message: `host ${host.hostId} lost during ${job.stage} at step ${lastStep}`, nonRetryable: true, details: [details] });
  }

  /** Counts steps run and the seconds the GPU waited on uploads (redone steps are priced once the stage finishes or the run ends). */
  private ran(tag: string, steps: number, heldS: number, stepped: boolean): void {
    if (stepped) this.executed.set(tag, (this.executed.get(tag) ?? 0) + Math.max(0, steps));
    this.ledger.uploadS += heldS;
  }

  /** Steps run more than once, per job tag: finished tags against their total; others against their committed checkpoint. */
  stepsRedone(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [tag, ran] of this.executed) {
      const stage = tag.replace(/\.r\d+$/, '') as keyof Assumptions['stages'];
      const keep = this.finished.has(tag) ? this.a.stages[stage].steps! : (this.committed.get(tag) ?? 0);
      out[tag] = ran - keep;
    }
    return out;
  }

  /** Seconds of steps that were run again (or lost with no checkpoint), from stepsRedone. */
  redoneStepSeconds(): number {
    let s = 0;
    for (const [tag, n] of Object.entries(this.stepsRedone())) {
      const stage = tag.replace(/\.r\d+$/, '') as keyof Assumptions['stages'];
      s += n * this.a.stages[stage].stepS!;
    }
    return s;
  }

  /** Productive seconds of a stage in progress when a run ends unfinished: its committed steps. */
  keptUnfinishedSeconds(): number {
    let s = 0;
    for (const [tag, step] of this.committed) {
      if (this.finished.has(tag)) continue;
      const stage = tag.replace(/\.r\d+$/, '') as keyof Assumptions['stages'];
      s += step * this.a.stages[stage].stepS!;
    }
    return s;
  }
}

/**
 * When each step and each checkpoint upload of one job ends: steps from
 * `from`+1 to `total`, a periodic save after every saveEvery-th step (not
 * after the last; the stage's output is its own save). Inline uploads hold
 * training for their whole length. Background uploads (the trainer's
 * CheckpointUploads) run beside the next steps: training waits only when a
 * save finds the previous upload still going, and a finished stage waits for
 * the last one. `holds` are the intervals in which the GPU waited on an upload.
 */
class Timeline {
  readonly endMs: number;
  /** ends[i]: the end of step from+i (ends[0]: the job's start). */
  private readonly ends: number[] = [];
  private readonly uploads: { step: number; startMs: number; doneMs: number }[] = [];
  private readonly holds: { startMs: number; endMs: number }[] = [];

  constructor(
    readonly startMs: number,
    readonly from: number,
    readonly total: number,
    readonly stepMs: number,
    readonly saveEvery: number | null,
    readonly uploadMs: number,
    readonly background: boolean,
  ) {
    let t = startMs;
    this.ends.push(t);
    let previousDone = -Infinity;
    for (let s = from + 1; s <= total; s++) {
      t += stepMs;
      this.ends.push(t);
      if (this.saveEvery === null || s % this.saveEvery !== 0 || s >= total) continue;
      // Background: the upload starts once the previous one is done; inline: at once.
      const begin = this.background ? Math.max(t, previousDone) : t;
      previousDone = begin + uploadMs;
      this.uploads.push({ step: s, startMs: begin, doneMs: previousDone });
      // Training goes on when the upload starts (background) or ends (inline): the GPU waits until then.
      const resume = this.background ? begin : previousDone;
      this.hold(t, resume);
      t = resume;
    }
    // A finished stage reports its end once the last upload has committed.
    this.endMs = Math.max(t, previousDone);
    this.hold(t, this.endMs);
  }

  private hold(startMs: number, endMs: number): void {
    if (endMs > startMs) this.holds.push({ startMs, endMs });
  }

  /** The end of step `s`. */
  stepEnd(s: number): number {
    return this.ends[s - this.from];
  }

  /** Seconds the GPU waited on uploads by time t (all of them: Infinity). */
  heldS(t = Infinity): number {
    return this.holds.reduce((sum, h) => sum + Math.max(0, Math.min(h.endMs, t) - h.startMs), 0) / 1000;
  }

  /** State at time t: steps done, and the newest checkpoint this job committed by then (null: none). */
  at(t: number): { stepsDone: number; committed: number | null } {
    let s = this.from;
    while (s < this.total && this.stepEnd(s + 1) <= t) s += 1;
    const done = this.uploads.filter((u) => u.doneMs <= t);
    return { stepsDone: s, committed: done.length ? done[done.length - 1].step : null };
  }

  /**
   * SIGTERM at t: the stage stops at the end of the step in flight and saves there. Inline, an
   * upload in flight is that checkpoint; in the background, the save waits for the upload in
   * flight and then uploads its own. Returns the stopping step, its commit, and the seconds the
   * GPU waited on uploads by then (the stopping save included).
   */
  noticeCommit(t: number): { step: number; commitMs: number; heldS: number } {
    const inFlight = this.uploads.find((u) => u.startMs <= t && t < u.doneMs);
    if (!this.background && inFlight) return { step: inFlight.step, commitMs: inFlight.doneMs, heldS: this.heldS(inFlight.doneMs) };
    const step = t <= this.startMs ? this.from : Math.min(this.at(t).stepsDone + 1, this.total);
    const end = this.stepEnd(step);
    const previousDone = Math.max(end, ...this.uploads.filter((u) => u.startMs <= end).map((u) => u.doneMs));
    const commitMs = previousDone + this.uploadMs;
    return { step, commitMs, heldS: this.heldS(end) + (commitMs - end) / 1000 };
  }
}
