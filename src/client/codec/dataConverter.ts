/**
 * The one data converter of every Temporal client and worker this project
 * makes (CLI, worker, schedules, tests' harness): payloads sealed by the
 * AES-GCM codec with the key ring of this process, failures' messages and
 * stack traces sealed too. Key rings are read once per source and process.
 */
import type { DataConverter, Payload } from '@temporalio/common';
import * as path from 'node:path';
import { stateDir } from '../../paths';
import { AesGcmCodec } from './aesGcm';
import { KEYS_VARIABLE, loadKeyRing, type KeyRing } from './keys';

/** The failure converter's module, by path: the worker bundles it into the workflow code. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failureConverter');

const rings = new Map<string, Promise<KeyRing>>();

/** This process's key ring for a Temporal at `address` (see loadKeyRing), read once. */
export function keyRingFor(address: string, env: NodeJS.ProcessEnv = process.env): Promise<KeyRing> {
  const cacheKey = `${env[KEYS_VARIABLE]?.trim() || `default:${path.resolve(stateDir())}`}|${address}`;
  let ring = rings.get(cacheKey);
  if (!ring) {
    ring = loadKeyRing(address, env);
    rings.set(cacheKey, ring);
    ring.catch(() => rings.delete(cacheKey));
  }
  return ring;
}

export function dataConverterOf(ring: KeyRing): DataConverter {
  return { payloadCodecs: [new AesGcmCodec(ring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** Payloads read from history (fetchHistory gives them as stored), opened by the converter's codecs. */
export async function decodePayloads(converter: DataConverter, payloads: Payload[]): Promise<Payload[]> {
  let out = payloads;
  for (const codec of [...(converter.payloadCodecs ?? [])].reverse()) out = await codec.decode(out);
  return out;
}

/** The data converter for a client or worker of the Temporal at `address`. */
export async function finetuneDataConverter(address: string, env: NodeJS.ProcessEnv = process.env): Promise<DataConverter> {
  return dataConverterOf(await keyRingFor(address, env));
}
