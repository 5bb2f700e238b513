/**
 * The weights fingerprint of the store contract, computed by the control
 * plane over files in a store, so it can check what a stage claims.
 */
import { createHash } from 'node:crypto';
import type { Store } from './store';

export function isWeightFile(relPath: string): boolean {
  const name = relPath.slice(relPath.lastIndexOf('/') + 1);
  return name.endsWith('.safetensors') || (name.endsWith('.bin') && name !== 'training_args.bin');
}

export async function fingerprintPrefix(store: Store, prefix: string): Promise<string> {
  const base = prefix.replace(/\/$/, '');
  const rels = (await store.list(base))
    .map((k) => k.slice(base.length + 1))
    .filter(isWeightFile)
    .sort();
  if (rels.length === 0) throw new Error(`no weight files under ${base} in ${store.uri}`);
  let text = '';
  for (const rel of rels) {
    const data = await store.getBytes(`${base}/${rel}`);
    text += `${rel}\t${createHash('sha256').update(data!).digest('hex')}\n`;
  }
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The tensor names in a safetensors file (its JSON header), without loading tensors. */
export function safetensorsKeys(data: Buffer): string[] {
  const headerLength = Number(data.readBigUInt64LE(0));
  const header = JSON.parse(data.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  return Object.keys(header).filter((k) => k !== '__metadata__');
}
