/**
 * The payload codec that keeps workflow history unreadable without the keys:
 * each payload (its metadata and data, as protobuf bytes) is sealed with
 * AES-256-GCM under the key ring's newest key; the key id travels in the
 * sealed payload's metadata (and is bound to it as associated data, so
 * relabelling a payload fails like tampering does). Payloads without the
 * `binary/encrypted` encoding pass through, so histories recorded before the
 * codec (test/fixtures/histories) still replay. Runs only in the client and
 * the worker's data converter, never in the workflow bundle.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/encoding';
import { temporal } from '@temporalio/proto';
import { KEYS_VARIABLE, type KeyRing } from './keys';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A payload names a key id this process does not hold. */
export class CodecKeyUnknown extends Error {
  readonly name = 'CodecKeyUnknown';
  constructor(
    readonly keyId: string,
    ring: KeyRing,
  ) {
    super(
      `a payload is encrypted with codec key id ${keyId}, which this process does not hold (it holds ${ring.ids.join(', ')} from ${ring.source}); ` +
        `add that key to the key ring that ${KEYS_VARIABLE} names (keys rotate by appending; keep old keys while histories use them; docs/operating.md, Encrypted history)`,
    );
  }
}

/** A sealed payload that does not open: altered, truncated, or sealed under another key with the same id. */
export class EncryptedPayloadInvalid extends Error {
  readonly name = 'EncryptedPayloadInvalid';
}

export class AesGcmCodec implements PayloadCodec {
  constructor(readonly ring: KeyRing) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.ring.newest;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(id));
      const sealed = Buffer.concat([iv, cipher.update(temporal.api.common.v1.Payload.encode(payload).finish()), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { [METADATA_ENCODING_KEY]: encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: encode(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      if (!idBytes) throw new EncryptedPayloadInvalid(`a ${ENCRYPTED_ENCODING} payload has no ${KEY_ID_METADATA} in its metadata; it was not sealed by this codec`);
      const id = decode(idBytes);
      const key = this.ring.find(id);
      if (!key) throw new CodecKeyUnknown(id, this.ring);
      const data = Buffer.from(payload.data ?? []);
      if (data.length < IV_BYTES + TAG_BYTES)
        throw new EncryptedPayloadInvalid(`a payload sealed with codec key id ${id} is ${data.length} bytes, too short to be one: it was truncated`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(id));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain) as Payload;
      } catch (err) {
        throw new EncryptedPayloadInvalid(
          `a payload sealed with codec key id ${id} does not authenticate (${(err as Error).message}): it was altered after sealing, or sealed under another key that carries the same id`,
        );
      }
    });
  }
}
