/**
 * What Linux says about a process, read from /proc. A pid alone is not enough
 * to trust: a dead agent leaves a zombie until it is reaped, and its pid can
 * be reused by a stranger, which must never be adopted or signalled.
 */
import { promises as fs } from 'node:fs';

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
    text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) sits in parentheses and may contain spaces or ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: fields[0] ?? '?', pgrp: Number(fields[2]), session: Number(fields[3]) };
}

export async function commandLine(pid: number): Promise<string[]> {
  try {
    return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
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

/** Sends a signal to a whole process group; a group that is already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
