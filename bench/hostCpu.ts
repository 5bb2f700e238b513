/**
 * Keeping bench:scale's hosts off the control plane's CPU. The hosts stand for
 * other machines, but here 200 agents share 2 cores with the worker and the dev
 * server. The local provider starts each agent in a session of its own
 * (setsid), and with sched_autogroup_enabled (most distributions' default) the
 * kernel shares the CPU between sessions first, so a plain nice 19 counts only
 * inside each agent's own session: 200 sessions then outweighed the worker's one
 * (measured at 200 runs: load average 13, the worker's event loop stalled up to
 * 2.7 s, workflow-task p50 4.9 s). Best first:
 *
 * - cgroup: every host joins one cpu cgroup of the default weight (cpu.shares
 *   1024): the 200 hosts together weigh as much as the session that holds the
 *   worker and the dev server. Not idle: hosts that got only the CPU nobody
 *   else wanted went 30 s without a heartbeat and were lost (measured at 200
 *   runs), which a real host on its own machine never is;
 * - autogroup: each agent's session at nice 19 (weight 15 against the worker's
 *   1024, but 200 of them still add up to three times the worker's weight);
 * - nice: nice 19 alone.
 *
 * What was used is written to the results (hosts_cpu), since it changes the figures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface HostCpu {
  /** cgroup, autogroup or nice: how far the hosts are kept off the worker's CPU. */
  kind: 'cgroup' | 'autogroup' | 'nice';
  /** The hosts' python: a shell script that applies it and execs python. */
  python: string;
  /** Removes the cgroup once its hosts have exited (they exit as their runs end). */
  close(): Promise<void>;
}

const CPU_CGROUP_V1 = '/sys/fs/cgroup/cpu';

/** A cpu cgroup for the hosts, or null when this machine gives none (no v1 cpu controller, no root). */
function hostsCgroup(name: string): string | null {
  if (!fs.existsSync(path.join(CPU_CGROUP_V1, 'cpu.shares'))) return null;
  const dir = path.join(CPU_CGROUP_V1, name);
  try {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'cpu.shares'), '1024');
    return dir;
  } catch {
    try {
      fs.rmdirSync(dir);
    } catch {
      // never made: nothing to remove
    }
    return null;
  }
}

export function hostCpu(dir: string, python: string): HostCpu {
  const cgroup = hostsCgroup(`finetune-bench-hosts-${process.pid}`);
  const script = path.join(dir, 'python-hosts');
  // Only a session leader (an agent) touches its autogroup, so the bench's own session, which
  // holds the worker, keeps nice 0. exec keeps the pid and python's command line, which the
  // local provider checks.
  const lines = [
    '#!/bin/sh',
    cgroup
      ? `echo $$ > ${JSON.stringify(path.join(cgroup, 'cgroup.procs'))}`
      : 'if [ "$(cut -d" " -f6 /proc/$$/stat 2>/dev/null)" = "$$" ]; then echo 19 > /proc/$$/autogroup 2>/dev/null; fi',
    `exec nice -n 19 ${JSON.stringify(python)} "$@"`,
    '',
  ];
  fs.writeFileSync(script, lines.join('\n'), { mode: 0o755 });
  const autogroup = fs.existsSync('/proc/sys/kernel/sched_autogroup_enabled') && fs.readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  return {
    kind: cgroup ? 'cgroup' : autogroup ? 'autogroup' : 'nice',
    python: script,
    close: async () => {
      if (!cgroup) return;
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(cgroup);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      console.error(`bench:scale: cgroup ${cgroup} still has processes; remove it with rmdir once they exit`);
    },
  };
}
