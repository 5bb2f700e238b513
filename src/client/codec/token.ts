/**
 * The codec server's bearer token: FINETUNE_CODEC_TOKEN (the token), or
 * FINETUNE_CODEC_TOKEN_FILE (a file holding it), or, by default, the state
 * folder's codec-token file, made on first use (mode 0600).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../paths';
import { createSecretFileOnce } from './keys';

export const TOKEN_VARIABLE = 'FINETUNE_CODEC_TOKEN';
export const TOKEN_FILE_VARIABLE = 'FINETUNE_CODEC_TOKEN_FILE';

export interface CodecToken {
  token: string;
  /** Where it is kept, as output may show it (never the token). */
  source: string;
  /** The file that holds it, when it is in one. */
  file: string | null;
}

/** The codec server's token cannot be read or is too weak; names where it comes from and the fix. */
export class CodecTokenInvalid extends Error {
  readonly name = 'CodecTokenInvalid';
}

const MIN_LENGTH = 16;

export function codecServerToken(env: NodeJS.ProcessEnv = process.env): CodecToken {
  const given = env[TOKEN_VARIABLE]?.trim();
  if (given) {
    if (given.length < MIN_LENGTH || /\s/.test(given))
      throw new CodecTokenInvalid(`${TOKEN_VARIABLE} must be at least ${MIN_LENGTH} characters with no spaces; make one with: openssl rand -hex 32`);
    return { token: given, source: TOKEN_VARIABLE, file: null };
  }
  const named = env[TOKEN_FILE_VARIABLE]?.trim();
  const file = path.resolve(named || path.join(stateDir(), 'codec-token'));
  if (!named) createSecretFileOnce(file, `${randomBytes(32).toString('hex')}\n`);
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CodecTokenInvalid(
      `${TOKEN_FILE_VARIABLE}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at the file holding the codec server's token`,
    );
  }
  if (token.length < MIN_LENGTH || /\s/.test(token))
    throw new CodecTokenInvalid(`the codec server token in ${file} must be at least ${MIN_LENGTH} characters with no spaces; make one with: openssl rand -hex 32 > ${file}`);
  return { token, source: file, file };
}
