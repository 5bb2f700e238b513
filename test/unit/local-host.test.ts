import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalHostProvider, AgentStartFailed } from '../../src/hosts/local';
import { processInfo, liveGroupMembers } from '../../src/hosts/processes';
import { HostLease } from '../../src/hosts/provider';
import { scratchDir } from '../support/scratch';

/**
 * A fake python: records its arguments and PYTHONPATH, then sleeps until
 * SIGTERM (or, when told, ignores SIGTERM so only SIGKILL stops it).
 */
async function fakeAgent(opts: { ignoreTerm?: boolean; exitAtOnce?: boolean } = {}) {
  const dir = scratchDir('local-host-');
  const python = path.join(dir, 'fake-python');
  const calls = path.join(dir, 'calls.log');
  const onTerm = opts.ignoreTerm ? "trap '' TERM" : "trap 'echo stopping; exit 0' TERM";
  await fs.writeFile(
    python,
    [
      '#!/bin/sh',
      `echo "$* PYTHONPATH=$PYTHONPATH" >> '${calls}'`,
      opts.exitAtOnce ? 'echo "ImportError: no module named durable_finetune.agent"; exit 1' : '',
      onTerm,
      'echo started',
      'while true; do sleep 0.1; done',
    ].join('\n'),
    { mode: 0o755 },
  );
  const provider = new LocalHostProvider({
    python,
    trainerDir: '/opt/trainer',
    workdirRoot: path.join(dir, 'hosts'),
    releaseGraceMs: 1000,
    startupCheckMs: 200,
  });
  const callCount = async () => (await fs.readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  return { dir, provider, calls, callCount };
}

const req = (runId: string) => ({ runId, hostIndex: 1, storeUri: 'file:///tmp/store' });

async function agentPids(hostId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const info = await processInfo(Number(name));
    if (argv.includes(hostId) && argv.includes('--host') && info?.state !== 'Z') pids.push(Number(name));
  }
  return pids;
}

test('provision starts one detached agent with the contract arguments, and a second provision adopts it', async (t) => {
  const { provider, calls, callCount } = await fakeAgent();
  const lease = await provider.provision(req('run-a'));
  t.after(() => provider.release(lease));

  assert.equal(lease.hostId, 'run-a-h1');
  assert.equal(lease.provider, 'local');
  const pid = Number(lease.details.pid);
  const info = await processInfo(pid);
  assert.equal(info?.pgrp, pid, 'the agent leads its own process group');
  assert.equal(info?.session, pid, 'the agent leads its own session, so a closed terminal does not reach it');

  const workdir = String(lease.details.workdir);
  assert.equal(await fs.readFile(path.join(workdir, 'agent.pid'), 'utf8'), `${pid}\n`);
  const recorded = await fs.readFile(calls, 'utf8');
  assert.match(recorded, /^-m durable_finetune\.agent --store file:\/\/\/tmp\/store --run run-a --host run-a-h1 --workdir \S+run-a-h1 PYTHONPATH=\/opt\/trainer/);
  assert.deepEqual(await provider.logTail(lease, 5), ['started']);

  const again = await provider.provision(req('run-a'));
  assert.deepEqual(again, lease, 'a retried provision returns the same lease');
  assert.equal(await callCount(), 1, 'the fake python ran once');
  assert.deepEqual(await agentPids('run-a-h1'), [pid]);
  assert.deepEqual(await provider.state(lease), { kind: 'running' });
});

test('concurrent provisions of one host start one agent', async (t) => {
  const { provider, callCount } = await fakeAgent();
  const [a, b] = await Promise.all([provider.provision(req('run-b')), provider.provision(req('run-b'))]);
  t.after(() => provider.release(a));
  assert.equal(a.details.pid, b.details.pid);
  assert.equal(await callCount(), 1);
});

test('release stops the agent, the host is then gone, and releasing again succeeds', async () => {
  const { provider } = await fakeAgent();
  const lease = await provider.provision(req('run-c'));
  const started = Date.now();
  await provider.release(lease);
  assert.ok(Date.now() - started < 1000, 'a cooperative agent is not waited on for the whole grace period');

  const state = await provider.state(lease);
  assert.equal(state.kind, 'gone');
  assert.match(state.kind === 'gone' ? state.reason : '', /agent process \d+ has exited; last log line: stopping/);
  assert.deepEqual(await liveGroupMembers(Number(lease.details.pid)), []);
  await assert.rejects(fs.access(path.join(String(lease.details.workdir), 'agent.pid')));
  await provider.release(lease);
});

test('an agent that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  const { provider } = await fakeAgent({ ignoreTerm: true });
  const lease = await provider.provision(req('run-d'));
  const started = Date.now();
  await provider.release(lease);
  const took = Date.now() - started;
  assert.ok(took >= 1000, `release waited ${took} ms, less than the 1000 ms grace`);
  assert.deepEqual(await liveGroupMembers(Number(lease.details.pid)), []);
  assert.equal((await provider.state(lease)).kind, 'gone');
});

test('after the agent dies, provision starts a new one instead of adopting its pid file', async (t) => {
  const { provider, callCount } = await fakeAgent();
  const first = await provider.provision(req('run-e'));
  process.kill(-Number(first.details.pid), 'SIGKILL');
  while ((await provider.state(first)).kind === 'running') await new Promise((r) => setTimeout(r, 20));
  const second = await provider.provision(req('run-e'));
  t.after(() => provider.release(second));
  assert.notEqual(second.details.pid, first.details.pid);
  assert.equal(await callCount(), 2);
});

test('an agent that exits at once fails provision with its log', async () => {
  const { provider } = await fakeAgent({ exitAtOnce: true });
  await assert.rejects(provider.provision(req('run-f')), (err) => {
    assert.ok(err instanceof AgentStartFailed);
    assert.match(err.message, /ImportError/);
    return true;
  });
});

test('a python that does not exist fails provision naming it', async () => {
  const dir = scratchDir('local-host-');
  const provider = new LocalHostProvider({ python: path.join(dir, 'no-python'), trainerDir: dir, workdirRoot: dir });
  await assert.rejects(provider.provision(req('run-g')), /cannot run .*no-python/);
});

test('state of a lease whose pid belongs to another program is gone', async () => {
  const { provider } = await fakeAgent();
  const stranger: HostLease = {
    provider: 'local',
    hostId: 'run-h-h1',
    runId: 'run-h',
    hostIndex: 1,
    details: { pid: process.pid, workdir: '/nonexistent' },
    provisionedAt: new Date().toISOString(),
  };
  const state = await provider.state(stranger);
  assert.equal(state.kind, 'gone');
  await provider.release(stranger);
  assert.ok(await processInfo(process.pid), 'release never signals a stranger');
});
