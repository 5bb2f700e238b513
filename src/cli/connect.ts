/**
 * The CLI's way to Temporal: the TEMPORAL_* settings (docs/operating.md),
 * or, for commands that may bring their own, the embedded dev server.
 * A server that cannot be reached is exit code 4 with what to do about it.
 */
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { temporalSettings, type TemporalSettings } from '../client/connection';
import { connectClient, dataConverterFor, type TemporalClient } from '../client/temporalClient';
import { ensureSearchAttributes } from '../client/searchAttributes';
import { ensureDevServer } from '../client/embedded';
import { uiLink } from '../client/runs';
import { CliError, EXIT } from './errors';
import type { Output } from './output';
import { findRun } from './runInfo';

export interface CliTemporal {
  settings: TemporalSettings;
  client: Client;
  /** The client's data converter (the payload codec): for payloads read from history. */
  dataConverter: DataConverter;
  /** Base URL of the Temporal UI when known (FINETUNE_UI_URL, or the dev server's). */
  uiBase: string | null;
  link(runId: string): string | null;
  close(): Promise<void>;
}

export function uiBaseFor(settings: TemporalSettings, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.FINETUNE_UI_URL) return env.FINETUNE_UI_URL;
  return settings.address === 'localhost:7233' ? 'http://localhost:8233' : null;
}

export async function connectTemporal(settings: TemporalSettings = temporalSettings(), uiBase = uiBaseFor(settings)): Promise<CliTemporal> {
  const dataConverter = await dataConverterFor(settings);
  let connected: TemporalClient;
  try {
    connected = await connectClient(settings, { connectTimeout: '5s' }, dataConverter);
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}): ${(err as Error).message}. ` +
        'Start `finetune dev` (embedded dev server and worker), or set TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and ' +
        'TEMPORAL_API_KEY or the TLS paths for your cluster (docs/operating.md).',
      EXIT.unreachable,
    );
  }
  const { client, connection } = connected;
  return {
    settings,
    client,
    dataConverter,
    uiBase,
    link: (runId) => (uiBase ? uiLink(uiBase, settings.namespace, runId) : null),
    close: () => connection.close(),
  };
}

/**
 * Settings for a command that can bring its own server: TEMPORAL_ADDRESS when
 * set, else the embedded dev server on localhost:7233 (started, detached, when
 * none listens there; its UI stays up afterwards).
 */
export async function embeddedOrConfigured(out: Output): Promise<{ settings: TemporalSettings; uiBase: string | null }> {
  if (process.env.TEMPORAL_ADDRESS) {
    const settings = temporalSettings();
    return { settings, uiBase: uiBaseFor(settings) };
  }
  const server = await ensureDevServer();
  out.say(server.started ? `started the Temporal dev server (${server.address}, UI ${server.uiUrl})` : `using the Temporal dev server at ${server.address}`);
  const settings = temporalSettings({ ...process.env, TEMPORAL_ADDRESS: server.address });
  if (!server.started) {
    const added = await ensureSearchAttributes(settings);
    if (added.length > 0) out.say(`registered the search attributes ${added.join(', ')} on that server`);
  }
  return { settings, uiBase: process.env.FINETUNE_UI_URL ?? server.uiUrl };
}

/** Connects (exit 4 when the server cannot be reached), runs fn, and always closes the connection. */
export async function withTemporal<T>(fn: (t: CliTemporal) => Promise<T>): Promise<T> {
  const t = await connectTemporal();
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

/** withTemporal, with the run found first (exit 3 when there is none). */
export function withRun<T>(runId: string, fn: (t: CliTemporal, run: Awaited<ReturnType<typeof findRun>>) => Promise<T>): Promise<T> {
  return withTemporal(async (t) => fn(t, await findRun(t.client, runId)));
}
