/**
 * reapOrphanHosts: deletes VMs we made (label managed-by=durable-finetune)
 * whose run is closed or unknown to Temporal. A run's own `finally` releases
 * its hosts; this catches what that cannot: a provision that was cancelled
 * mid-insert, a worker that died between insert and lease, a run terminated
 * from the UI (terminate runs no workflow code).
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { GceHostProvider, type ManagedInstance } from '../src/hosts/gce';

export interface ReapInput {
  project: string;
  /** Only these zones; default every zone. */
  zones?: string[];
  /** VMs younger than this are left alone (their run may be starting); default 900. */
  minAgeS?: number;
  /** Report what would be deleted, delete nothing. */
  dryRun?: boolean;
}

export interface ReapedHost {
  zone: string;
  name: string;
  runId: string | null;
  /** Why it went: the run's Temporal status, or that Temporal does not know the run. */
  reason: string;
}

export interface ReapReport {
  checked: number;
  deleted: ReapedHost[];
  kept: { name: string; runId: string | null; reason: string }[];
}

export function reaperActivities() {
  return {
    async reapOrphanHosts(input: ReapInput): Promise<ReapReport> {
      const ctx = Context.current();
      const provider = new GceHostProvider({ onWait: () => ctx.heartbeat() });
      const minAgeMs = (input.minAgeS ?? 900) * 1000;
      const vms = await provider.listManaged(input.project, input.zones);
      const report: ReapReport = { checked: vms.length, deleted: [], kept: [] };
      for (const vm of vms) {
        ctx.heartbeat(vm.name);
        const verdict = await runVerdict(ctx, vm, minAgeMs);
        if (verdict.keep) {
          report.kept.push({ name: vm.name, runId: vm.runId ?? null, reason: verdict.reason });
          continue;
        }
        if (!input.dryRun) await provider.deleteInstance(vm.project, vm.zone, vm.name);
        report.deleted.push({ zone: vm.zone, name: vm.name, runId: vm.runId ?? null, reason: verdict.reason });
      }
      return report;
    },
  };
}

async function runVerdict(ctx: Context, vm: ManagedInstance, minAgeMs: number): Promise<{ keep: boolean; reason: string }> {
  const age = vm.createdAt ? Date.now() - Date.parse(vm.createdAt) : Infinity;
  if (age < minAgeMs) return { keep: true, reason: `younger than ${minAgeMs / 1000} s` };
  if (!vm.runId) return { keep: false, reason: 'carries no run id' };
  try {
    const { status } = await ctx.client.workflow.getHandle(vm.runId).describe();
    if (status.name === 'RUNNING') return { keep: true, reason: 'run is open' };
    return { keep: false, reason: `run is ${status.name.toLowerCase()}` };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { keep: false, reason: 'run is unknown to Temporal' };
    throw err;
  }
}
