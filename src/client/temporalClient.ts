/**
 * The one way this project makes a Temporal client (CLI, worker, schedules,
 * tests' harness): the connection from the TEMPORAL_* settings and the data
 * converter that seals payloads (src/client/codec), and the identity user@host
 * (src/client/identity.ts: the eval gate's approver). The codec's keys are read
 * before connecting, so a missing key fails as that, not as an unreachable server.
 */
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { finetuneDataConverter } from './codec/dataConverter';
import type { TemporalSettings } from './connection';
import { clientIdentity } from './identity';

export interface TemporalClient {
  client: Client;
  connection: Connection;
  dataConverter: DataConverter;
}

/** The data converter for this process and these settings; resolves the codec's keys (CodecKeysInvalid when it cannot). */
export function dataConverterFor(settings: Pick<TemporalSettings, 'address'>): Promise<DataConverter> {
  return finetuneDataConverter(settings.address);
}

export async function connectClient(settings: TemporalSettings, options: Partial<ConnectionOptions> = {}, dataConverter?: DataConverter): Promise<TemporalClient> {
  const converter = dataConverter ?? (await dataConverterFor(settings));
  const connection = await Connection.connect({ ...settings.connection, ...options });
  return { connection, dataConverter: converter, client: new Client({ connection, namespace: settings.namespace, dataConverter: converter, identity: clientIdentity() }) };
}
