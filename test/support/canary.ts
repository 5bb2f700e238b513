/**
 * Canary secrets: values that look like nothing else, given to a run as
 * secrets, then searched for in everything the run leaves (issue 13: the
 * store, the raw history, the worker and agent logs, what the Compute API was
 * sent). A hit names the canary's label and the place, never the value.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store } from '../../src/store/store';
import { historyText } from './history';

export interface Canary {
  label: string;
  value: string;
}

export function canary(label: string): Canary {
  return { label, value: `canary-7f3a-${label}-${randomBytes(8).toString('hex')}` };
}

/** A place to search: its name and its bytes (binary files are searched too). */
export interface Place {
  name: string;
  bytes: Buffer;
}

export function textPlace(name: string, text: string): Place {
  return { name, bytes: Buffer.from(text) };
}

/** Every file under `dir` (logs, the dev server's database, VM roots, host workdirs). */
export function filesUnder(dir: string): Place[] {
  const out: Place[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ name: file, bytes: fs.readFileSync(file) });
  }
  return out;
}

/**
 * Every object in the store under its root, read a few at a time. A gs:// store on the GCS
 * emulator is read from the emulator's media URLs: the same bytes, without the client's
 * per-object checksum work (3x faster on a run's 60 MB).
 */
export async function storeObjects(store: Store, gcsEmulatorHost?: string): Promise<Place[]> {
  const gs = /^gs:\/\/([^/]+)\/?(.*)$/.exec(store.uri);
  const read = (key: string): Promise<Buffer | undefined> => {
    if (!gs || !gcsEmulatorHost) return store.getBytes(key).then((b) => b ?? undefined);
    const name = [gs[2].replace(/\/$/, ''), key].filter((p) => p).join('/');
    return fetch(`${gcsEmulatorHost}/storage/v1/b/${gs[1]}/o/${encodeURIComponent(name)}?alt=media`).then(async (r) => {
      if (!r.ok) throw new Error(`GET ${name} from the GCS emulator: ${r.status}`);
      return Buffer.from(await r.arrayBuffer());
    });
  };
  const keys = await store.list('');
  const out: Place[] = [];
  for (let i = 0; i < keys.length; i += 8) {
    const batch = keys.slice(i, i + 8);
    const bodies = await Promise.all(batch.map(read));
    batch.forEach((key, j) => out.push({ name: `${store.uri} ${key}`, bytes: bodies[j] ?? Buffer.alloc(0) }));
  }
  return out;
}

/**
 * A history as it is stored (payloads base64-decoded, not decrypted), and each
 * payload decrypted by `codec` too: a secret must be in neither.
 */
export async function historyPlaces(history: unknown, codec?: PayloadCodec): Promise<Place[]> {
  const places: Place[] = [textPlace('history (raw, no codec)', historyText(history))];
  if (codec) {
    const decoded = await codec.decode(payloadsIn(history));
    places.push({ name: 'history (payloads decoded by the codec)', bytes: Buffer.concat(decoded.map((p) => Buffer.from(p.data ?? []))) });
  }
  return places;
}

function payloadsIn(node: unknown, out: Payload[] = []): Payload[] {
  if (!node || typeof node !== 'object' || ArrayBuffer.isView(node)) return out;
  const o = node as Record<string, unknown>;
  if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') out.push(o as Payload);
  else for (const value of Object.values(o)) payloadsIn(value, out);
  return out;
}

/** Where any canary shows, plainly or base64-encoded: "label in place" lines; empty when none leaked. */
export function leaks(canaries: Canary[], places: Place[]): string[] {
  const found: string[] = [];
  for (const c of canaries) {
    const forms = [Buffer.from(c.value), Buffer.from(Buffer.from(c.value).toString('base64').replace(/=+$/, ''))];
    for (const p of places) if (forms.some((f) => p.bytes.includes(f))) found.push(`${c.label} in ${p.name}`);
  }
  return found;
}
