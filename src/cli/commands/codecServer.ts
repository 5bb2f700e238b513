/**
 * `finetune codec-server`: decodes runs for the Temporal UI and the `temporal`
 * CLI (the codec server protocol, src/client/codec/server.ts), with this
 * process's codec keys, until interrupted.
 */
import type { Command } from 'commander';
import { AesGcmCodec } from '../../client/codec/aesGcm';
import { keyRingFor } from '../../client/codec/dataConverter';
import { startCodecServer } from '../../client/codec/server';
import { codecServerToken } from '../../client/codec/token';
import { temporalSettings } from '../../client/connection';
import { action, positiveInt } from '../action';

interface CodecServerOptions {
  host: string;
  port: number;
  corsOrigin: string[];
}

export const DEFAULT_CODEC_PORT = 8888;
export const DEFAULT_UI_ORIGIN = 'http://localhost:8233';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function codecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description('serve /encode and /decode (Temporal codec server protocol) so the Temporal UI and `temporal --codec-endpoint` show runs decoded')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', positiveInt, DEFAULT_CODEC_PORT)
    .option('--cors-origin <origin>', `an origin of the Temporal UI allowed to call from a browser (repeatable; default ${DEFAULT_UI_ORIGIN})`, collect)
    .action(
      action<[], CodecServerOptions>(async ({ out, opts }) => {
        const ring = await keyRingFor(temporalSettings().address);
        const token = codecServerToken();
        const corsOrigins = opts.corsOrigin ?? [DEFAULT_UI_ORIGIN];
        const server = await startCodecServer({ codec: new AesGcmCodec(ring), token: token.token, corsOrigins, host: opts.host, port: opts.port });
        // The UI's browser keeps the login cookie for the host it was set on: localhost, like the UI's own origin.
        const browserUrl = server.url.replace('//127.0.0.1:', '//localhost:');
        const auth = token.file ? `"Bearer $(cat ${token.file})"` : `"Bearer $FINETUNE_CODEC_TOKEN"`;
        out.result({ url: server.url, keys: ring.source, keyIds: ring.ids, token: token.source, corsOrigins }, [
          `codec server at ${server.url} (keys from ${ring.source}; newest ${ring.newest.id})`,
          `bearer token: ${token.file ? `in ${token.file}` : `from ${token.source}`}`,
          `temporal CLI: temporal workflow show --workflow-id <run> --codec-endpoint ${server.url} --codec-auth ${auth}`,
          `Temporal UI (${corsOrigins.join(', ')}): codec endpoint ${browserUrl} with "Include cross-origin credentials"; open ${browserUrl}/login?token=<the token> once in that browser`,
        ]);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      }),
    );
}
