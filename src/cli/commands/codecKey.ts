/**
 * `finetune codec-key add`: rotates the payload codec's keys. Appends a new
 * key to the key file (FINETUNE_CODEC_KEYS, or the embedded default's),
 * making the file when absent: the new key encrypts from the next start of
 * each worker and client, the older keys still decrypt what they sealed.
 */
import type { Command } from 'commander';
import * as path from 'node:path';
import { addKeyToFile, DEFAULT_KEY_FILE } from '../../client/codec/keys';
import { stateDir } from '../../paths';
import { action } from '../action';
import { CliError, EXIT } from '../errors';

export function codecKeyCommand(program: Command): void {
  program
    .command('codec-key')
    .description("the payload codec's keys (docs/operating.md, Encrypted history)")
    .command('add')
    .description('append a new key to the key file (made when absent): it encrypts from the next start of each worker and client; older keys still decrypt')
    .option('--file <file>', `the key file; default FINETUNE_CODEC_KEYS, else $FINETUNE_HOME/${DEFAULT_KEY_FILE}`)
    .action(
      action<[], { file?: string }>(async ({ out, opts }) => {
        const named = opts.file ?? process.env.FINETUNE_CODEC_KEYS?.trim();
        if (named?.startsWith('secret:')) {
          throw new CliError(
            `FINETUNE_CODEC_KEYS is ${named}: add a Secret Manager version instead (the whole key file, old keys and the new one: gcloud secrets versions add ... --data-file=<file>); see docs/operating.md`,
            EXIT.badInput,
          );
        }
        const file = path.resolve(named || path.join(stateDir(), DEFAULT_KEY_FILE));
        const ring = addKeyToFile(file);
        out.result({ file, keyId: ring.newest.id, keyIds: ring.ids }, [
          `added codec key ${ring.newest.id} to ${file} (${ring.ids.length} keys; the newest encrypts)`,
          'restart the workers, `finetune dev` and the codec server so they hold it; keep the older keys while any history uses them',
        ]);
      }),
    );
}
