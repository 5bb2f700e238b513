import { Context } from '@temporalio/activity';
import { LocalHostProvider } from '../src/hosts/local';
import type { HostLease, HostProvider } from '../src/hosts/provider';
import type { PipelineConfig } from '../src/config/schema';
import { openStore } from '../src/store/open';
import { agentKey, type AgentHeartbeat } from '../src/jobs/contract';
import type { ActivityDeps } from './deps';
import type { ProvisionInput } from './types';
import { runLog } from '../src/log';
import * as path from 'node:path';

export function hostProvider(deps: ActivityDeps, host: PipelineConfig['host'] | { provider: 'local' }): HostProvider {
  const local = host as Extract<PipelineConfig['host'], { provider: 'local' }>;
  return new LocalHostProvider({
    python: local.python ?? deps.python,
    trainerDir: path.join(deps.projectRoot, 'trainer'),
    workdirRoot: path.resolve(deps.projectRoot, local.workdir ?? '.finetune/hosts'),
  });
}

/** How long a new agent has to write its first heartbeat. */
const AGENT_START_S = 120;

export function hostActivities(deps: ActivityDeps) {
  return {
    /** Provisions (or adopts) the host and waits until its agent heartbeats. */
    async provisionHost(input: ProvisionInput): Promise<HostLease> {
      const provider = hostProvider(deps, input.host);
      const lease = await provider.provision(input);
      const store = openStore(input.storeUri);
      const since = Date.now();
      for (;;) {
        const agent = await store.getJson<AgentHeartbeat>(agentKey(input.runId, lease.hostId));
        if (agent && agent.pid === lease.details.pid) {
          runLog({ runId: input.runId, stage: 'provision', hostId: lease.hostId }).info({ provider: lease.provider, seconds: (Date.now() - since) / 1000 }, 'host up');
          return lease;
        }
        const state = await provider.state(lease);
        if (state.kind === 'gone') {
          const tail = await provider.logTail(lease, 30);
          throw new Error(`agent on ${lease.hostId} exited before its first heartbeat: ${state.reason}\n${tail.join('\n')}`);
        }
        if (Date.now() - since > AGENT_START_S * 1000) {
          throw new Error(`agent on ${lease.hostId} wrote no heartbeat within ${AGENT_START_S} s`);
        }
        Context.current().heartbeat();
        await Context.current().sleep(500);
      }
    },

    async releaseHost(lease: HostLease): Promise<void> {
      await hostProvider(deps, { provider: lease.provider as 'local' }).release(lease);
      runLog({ runId: lease.runId, hostId: lease.hostId }).info({ provider: lease.provider }, 'host released');
    },
  };
}
