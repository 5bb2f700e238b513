/**
 * The hosts a run holds. The workflow keeps at most one lease at a time;
 * a lost host is released and replaced by the next host index, so names stay
 * deterministic and a retried provision adopts instead of duplicating.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { HostLease } from '../src/hosts/provider';
import type { ProvisionInput } from '../activities/types';

export interface HostVerbs {
  provisionHost(input: ProvisionInput): Promise<HostLease>;
  releaseHost(lease: HostLease): Promise<void>;
}

/** Told when a host starts and stops being billed (the cost ledger). */
export interface HostEvents {
  up(hostId: string): void;
  down(hostId: string): void;
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
    if (!this.lease) {
      this.lease = await this.verbs.provisionHost({ ...this.request, hostIndex: this.nextIndex });
      this.nextIndex += 1;
      this.events?.up(this.lease.hostId);
    }
    return this.lease;
  }

  /** Releases the lost host; the next current() provisions a new one. */
  async lost(reason: string): Promise<void> {
    this.losses += 1;
    const lease = this.lease;
    this.lease = null;
    if (lease) await this.release(lease);
    if (this.losses > this.maxLosses) {
      throw ApplicationFailure.nonRetryable(
        `lost ${this.losses} hosts, more than monitor.max_host_losses (${this.maxLosses}); last: ${reason}`,
        'TooManyHostLosses',
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
    this.events?.down(lease.hostId);
  }
}
