/**
 * The hosts a run holds. The workflow keeps at most one lease at a time;
 * a lost host is released and replaced by the next host index, so names stay
 * deterministic and a retried provision adopts instead of duplicating. A host
 * whose agent never started (AgentStartTimeout, already deleted) is a lost
 * host too: the next index is provisioned, within monitor.max_host_losses.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { HostLease } from '../src/hosts/provider';
import { AGENT_START_TIMEOUT, FAILURE_TYPES } from '../src/jobs/failures';
import type { AgentStartTimeoutDetails, ProvisionInput } from '../activities/types';

export interface HostVerbs {
  provisionHost(input: ProvisionInput): Promise<HostLease>;
  releaseHost(lease: HostLease): Promise<void>;
}

/** Told of hosts lost before their first job (billing wraps the verbs instead: workflows/cost.ts). */
export interface HostEvents {
  /** A host was made but its agent never started; provisionHost deleted it. */
  startFailed?(failed: AgentStartTimeoutDetails, reason: string): void;
}

export class HostPool {
  private lease: HostLease | null = null;
  private nextIndex = 1;
  losses = 0;

  constructor(
    private readonly verbs: HostVerbs,
    private readonly request: Omit<ProvisionInput, 'hostIndex'>,
    private readonly maxLosses: number,
    private readonly events?: HostEvents,
  ) {}

  async current(): Promise<HostLease> {
    while (!this.lease) {
      const hostIndex = this.nextIndex;
      try {
        this.lease = await this.verbs.provisionHost({ ...this.request, hostIndex });
      } catch (err) {
        const failed = agentStartTimeout(err);
        if (!failed) throw err;
        this.nextIndex += 1;
        this.events?.startFailed?.(failed.details, failed.message);
        this.count(`${failed.details.hostId}: ${failed.message}`);
        continue;
      }
      this.nextIndex += 1;
    }
    return this.lease;
  }

  /** Releases the lost host; the next current() provisions a new one. */
  async lost(reason: string): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (lease) await this.release(lease);
    this.count(reason);
  }

  private count(reason: string): void {
    this.losses += 1;
    if (this.losses > this.maxLosses) {
      throw ApplicationFailure.nonRetryable(
        `lost ${this.losses} hosts, more than monitor.max_host_losses (${this.maxLosses}); last: ${reason}`,
        FAILURE_TYPES.TooManyHostLosses.type,
      );
    }
  }

  async releaseAll(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (lease) await this.release(lease);
  }

  private async release(lease: HostLease): Promise<void> {
    await this.verbs.releaseHost(lease);
  }
}

function agentStartTimeout(err: unknown): { details: AgentStartTimeoutDetails; message: string } | null {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof ApplicationFailure) || err.cause.type !== AGENT_START_TIMEOUT) return null;
  return { details: err.cause.details?.[0] as AgentStartTimeoutDetails, message: `${AGENT_START_TIMEOUT}: ${err.cause.message}` };
}
