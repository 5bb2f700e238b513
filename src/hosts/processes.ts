/**
 * What Linux says about a process, read from /proc. A pid alone is not enough
 * to trust: a dead agent leaves a zombie until it is reaped, and its pid can
 * be reused by a stranger, which must never be adopted or signalled.
 *
 * A process's stat and cmdline are read synchronously: /proc is generated in
 * memory and never waits on a disk, and a read there costs the worker's main
 * thread about 14 us where fs.promises.readFile costs about 40 us (its open,
 * fstat, read and close each cross to the thread pool and back). Every runJob
 * reads its host's stat and cmdline on each poll, so at 200 runs these reads
 * are a share of the main thread that workflow activations wait behind.
 */
import { promises as fs, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  /** One letter from /proc/<pid>/stat: R, S, D, Z (zombie), T, ... */
  state: string;
  pgrp: number;
  session: number;
}

/** Undefined when no such process exists. */
export async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) sits in parentheses and may contain spaces or ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: fields[0] ?? '?', pgrp: Number(fields[2]), session: Number(fields[3]) };
}

export async function commandLine(pid: number): Promise<string[]> {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((a) => a !== '');
  } catch {
    return [];
  }
}

/** Alive means it can still do work: present and not a zombie. */
export function isAlive(info: ProcessInfo | undefined): info is ProcessInfo {
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

/** Live (non-zombie) pids in process group pgid, the agent and every stage it started. */
export async function liveGroupMembers(pgid: number): Promise<number[]> {
  const entries = await fs.readdir('/proc');
  const live: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const info = await processInfo(Number(name));
    if (isAlive(info) && info.pgrp === pgid) live.push(info.pid);
  }
  return live;
}

/** Of `pids`, those still alive and still in group pgid: a re-check without a scan of /proc. */
export async function stillInGroup(pgid: number, pids: number[]): Promise<number[]> {
  const infos = await Promise.all(pids.map(processInfo));
  return infos.filter((info): info is ProcessInfo => isAlive(info) && info.pgrp === pgid).map((info) => info.pid);
}

/**
 * True when group pgid has no process at all, zombies included: kill(-pgid, 0)
 * answers without reading /proc. False says only that something is there.
 */
export function groupEmpty(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Sends a signal to a whole process group; a group that is already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
