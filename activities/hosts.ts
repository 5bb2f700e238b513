import { ApplicationFailure, Context } from '@temporalio/activity';
import { CapacityUnavailable, GceHostProvider, HostConfigInvalid, QuotaExceeded } from '../src/hosts/gce';
import { LocalHostProvider } from '../src/hosts/local';
import { agentStartTimeoutS, type HostLease, type HostProvider, type LostBoot } from '../src/hosts/provider';
import type { PipelineConfig } from '../src/config/schema';
import { openStore } from '../src/store/open';
import { agentKey, type AgentHeartbeat } from '../src/jobs/contract';
import { AGENT_START_TIMEOUT } from '../src/jobs/failures';
import type { ActivityDeps } from './deps';
import type { AgentStartTimeoutDetails, ProvisionInput, ReleaseReceipt } from './types';
import { runLog } from '../src/log';
import * as path from 'node:path';

export function hostProvider(deps: ActivityDeps, host: PipelineConfig['host'] | { provider: 'local' | 'gce' }): HostProvider {
  if (host.provider === 'gce') {
    // Without the full config (release, state) the lease alone names the VM.
    const config = 'project' in host ? host : undefined;
    const ctx = activityContext();
    const first = (ctx?.info.heartbeatDetails as { capacityWaitFrom?: number } | undefined)?.capacityWaitFrom ?? Date.now();
    return new GceHostProvider({
      config,
      signal: ctx?.cancellationSignal,
      startedAt: first,
      // Leave a minute of this attempt for the heartbeat wait; the next attempt continues the capacity wait.
      mustReturnBy: ctx ? Date.now() + ctx.info.startToCloseTimeoutMs - 60_000 : undefined,
      onWait: () => ctx?.heartbeat({ capacityWaitFrom: first }),
    });
  }
  const local = host as Extract<PipelineConfig['host'], { provider: 'local' }>;
  return new LocalHostProvider({
    python: local.python ?? deps.python,
    trainerDir: path.join(deps.projectRoot, 'trainer'),
    workdirRoot: path.resolve(deps.projectRoot, local.workdir ?? '.finetune/hosts'),
  });
}

/**
 * Why an activity is cancelled when its run no longer wants the host: the run was cancelled,
 * or it is gone (terminated). Not a worker shutdown or timeout: a retry adopts the VM then.
 */
const RUN_GONE = new Set(['CANCELLED', 'NOT_FOUND']);

export function hostActivities(deps: ActivityDeps) {
  return {
    /**
     * Provisions (or adopts) the host and waits until its agent heartbeats. A VM whose agent
     * stays silent for agent_start_timeout_s is deleted at once (AgentStartTimeout: the run
     * moves to a new host), and so is one whose provision the run cancels: no VM outlives this
     * activity without a lease in the workflow, except when the worker itself dies (the reaper).
     * A VM preempted while it boots is made again (lease.lostBoots bills the lost ones).
     */
    async provisionHost(input: ProvisionInput): Promise<HostLease> {
      const provider = hostProvider(deps, input.host);
      const lostBoots: LostBoot[] = [];
      for (;;) {
        const outcome = await provisionOnce(provider, input);
        if (!(outcome instanceof BootPreempted)) return lostBoots.length ? { ...outcome, lostBoots } : outcome;
        // Spot churn: a VM preempted while it booted is made again under the same name; its boot is billed as a failed provision.
        lostBoots.push(outcome.lost);
        runLog({ runId: input.runId, stage: 'provision', hostId: outcome.hostId }).warn({ reason: outcome.lost.reason }, 'host preempted before its agent started');
        if (lostBoots.length > MAX_LOST_BOOTS) throw new Error(`${outcome.message} (${lostBoots.length} VMs of ${outcome.hostId} preempted while booting)`);
      }
    },

    /** Deletes the host and answers when the delete completed: the end of its bill. */
    async releaseHost(lease: HostLease): Promise<ReleaseReceipt> {
      await hostProvider(deps, { provider: lease.provider }).release(lease);
      const deletedAt = new Date().toISOString();
      runLog({ runId: lease.runId, hostId: lease.hostId }).info({ provider: lease.provider }, 'host released');
      return { deletedAt };
    },
  };
}

/** VMs of one host preempted while booting that one provisionHost attempt makes again before it fails (and Temporal retries it). */
const MAX_LOST_BOOTS = 3;

/** A VM preempted before its agent's first heartbeat: what it was billed. */
class BootPreempted extends Error {
  readonly name = 'BootPreempted';
  constructor(
    readonly hostId: string,
    readonly lost: LostBoot,
  ) {
    super(`${hostId} was preempted before its agent started: ${lost.reason}`);
  }
}

/** One VM: provisioned (or adopted) and its agent awaited; a silent or cancelled one deleted. */
async function provisionOnce(provider: HostProvider, input: ProvisionInput): Promise<HostLease | BootPreempted> {
  // A provision the run cancelled has deleted what it inserted (gce.ts); report it as cancelled.
  const lease = await provider.provision(input).catch((err) => toWorkflowFailure(runCancellation() ?? err));
  try {
    return await awaitAgent(provider, lease, input);
  } catch (err) {
    if (err instanceof BootPreempted) return err;
    const cancelled = runCancellation();
    if (!cancelled && !(err instanceof ApplicationFailure && err.type === AGENT_START_TIMEOUT)) throw err;
    await provider.release(lease);
    // Its bill ends here: the workflow's ledger charges it, insert to delete, as a failed provision.
    if (!cancelled) ((err as ApplicationFailure).details?.[0] as AgentStartTimeoutDetails).deletedAt = new Date().toISOString();
    runLog({ runId: input.runId, stage: 'provision', hostId: lease.hostId }).warn({ provider: lease.provider, cancelled: !!cancelled }, 'host deleted before its agent started');
    throw cancelled ?? err;
  }
}

/** Waits for the first heartbeat of the lease's agent; AgentStartTimeout (with the console tail) when none comes in time. */
async function awaitAgent(provider: HostProvider, lease: HostLease, input: ProvisionInput): Promise<HostLease> {
  const store = openStore(input.storeUri);
  const since = Date.now();
  const startS = agentStartTimeoutS(input.host);
  for (;;) {
    const agent = await store.getJson<AgentHeartbeat>(agentKey(input.runId, lease.hostId));
    if (agent && isAgentOf(agent, lease)) {
      const readyAt = new Date();
      runLog({ runId: input.runId, stage: 'provision', hostId: lease.hostId }).info(
        { provider: lease.provider, seconds: (readyAt.getTime() - since) / 1000, bootSeconds: (readyAt.getTime() - Date.parse(lease.provisionedAt)) / 1000 },
        'host up',
      );
      return { ...lease, readyAt: readyAt.toISOString() };
    }
    const state = await provider.state(lease);
    if (state.kind === 'gone') {
      // Billed until seen gone: within a poll of the preemption.
      if (state.preempted) throw new BootPreempted(lease.hostId, { provisionedAt: lease.provisionedAt, deletedAt: new Date().toISOString(), reason: state.reason });
      const tail = await provider.logTail(lease, 30);
      throw new Error(`agent on ${lease.hostId} exited before its first heartbeat: ${state.reason}\n${tail.join('\n')}`);
    }
    if (Date.now() - since > startS * 1000) {
      const logTail = await provider.logTail(lease, 30).catch(() => []);
      const details: AgentStartTimeoutDetails = {
        hostId: lease.hostId,
        hostIndex: lease.hostIndex,
        waitedS: Math.round((Date.now() - since) / 1000),
        provisionedAt: lease.provisionedAt,
        logTail,
      };
      throw ApplicationFailure.create({
        type: AGENT_START_TIMEOUT,
        message:
          `the agent on ${lease.hostId} wrote no heartbeat within ${startS} s (host.agent_start_timeout_s); the host was deleted. ` +
          'Read its console tail (boot, driver, image pull) in the details; a slow first boot needs a larger agent_start_timeout_s.',
        nonRetryable: true,
        details: [details],
      });
    }
    Context.current().heartbeat();
    await Context.current().sleep(500);
  }
}

/** The cancellation to report when the run cancelled this activity or is gone; undefined otherwise. */
function runCancellation(): Error | undefined {
  const signal = activityContext()?.cancellationSignal;
  const reason = signal?.aborted ? (signal.reason as Error | undefined) : undefined;
  return reason && RUN_GONE.has(reason.message) ? reason : undefined;
}

/** A local agent is known by its pid; a VM's agent by having started on this VM (not an earlier one of the same name). */
function isAgentOf(agent: AgentHeartbeat, lease: HostLease): boolean {
  if (lease.provider === 'local') return agent.pid === lease.details.pid;
  return Date.parse(agent.started_at) >= Date.parse(lease.provisionedAt) - 60_000;
}

/** No retry helps a quota, a stockout that outlasted capacity_wait_s, or a config GCE refuses. */
function toWorkflowFailure(err: unknown): never {
  if (err instanceof QuotaExceeded) {
    throw ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: true,
      details: [{ metric: err.metric, region: err.region, zone: err.zone, errors: err.evidence }],
    });
  }
  if (err instanceof CapacityUnavailable) {
    throw ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: true,
      details: [{ zonesTried: err.zonesTried, waitedS: err.waitedS, lastErrors: err.lastErrors }],
    });
  }
  if (err instanceof HostConfigInvalid) throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
  throw err;
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
