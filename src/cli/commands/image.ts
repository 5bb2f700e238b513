/**
 * `finetune image bake <config>`: a host image with the NVIDIA driver and the
 * config's trainer image on it (src/hosts/bake.ts), and the host.image line
 * that uses it. Ctrl-C deletes the builder VM before the command exits.
 */
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load';
import { BakeInputInvalid, bakeImage } from '../../hosts/bake';
import { action, positiveInt } from '../action';
import { CliError, EXIT } from '../errors';

interface BakeCliOptions {
  sourceImage?: string;
  timeout?: number;
}

export function imageCommand(program: Command): void {
  const image = program.command('image').description('host images for GCE');
  image
    .command('bake')
    .description(
      'make a GCE image with the NVIDIA driver and host.trainer_image on it, so new hosts skip both at boot; prints the host.image to use (docs/gcp.md, Baked image). ' +
        'Runs an on-demand builder VM of host.machine_type for a few minutes, deleted at the end',
    )
    .argument('<config>', 'pipeline config, YAML or JSON, with host.provider gce')
    .option('--source-image <image>', 'the image the builder boots (projects/<p>/global/images/...); default host.image')
    .option('--timeout <seconds>', 'how long the builder has to finish; default host.agent_start_timeout_s', positiveInt)
    .action(
      action<[string], BakeCliOptions>(async ({ out, opts }, file) => {
        const config = loadConfigFile(file);
        if (config.host.provider !== 'gce') {
          throw new CliError(
            `image bake makes a Compute Engine image: ${file} has host.provider ${config.host.provider}; set host.provider gce with its project, zones and machine_type`,
            EXIT.badInput,
          );
        }
        if (opts.timeout !== undefined && opts.timeout < 60) {
          throw new CliError(`--timeout ${opts.timeout}: use at least 60 s (a GPU VM takes about a minute to boot, then installs its driver and pulls the image)`, EXIT.badInput);
        }
        const abort = new AbortController();
        const cancel = () => {
          process.stderr.write('finetune: cancelling the bake: deleting its builder VM (Ctrl-C again leaves it running)\n');
          abort.abort();
        };
        process.once('SIGINT', cancel);
        process.once('SIGTERM', cancel);
        try {
          const r = await bakeImage({
            config: config.host,
            sourceImage: opts.sourceImage,
            timeoutS: opts.timeout,
            signal: abort.signal,
            log: (line) => process.stderr.write(`${line}\n`),
          });
          out.result(r, [
            `baked ${r.image} in ${r.seconds} s: ${r.trainerImage} (${r.trainerDigest}) and the NVIDIA driver for ${config.host.machine_type}, on ${r.sourceImage}`,
            `family ${r.family}, labels ${Object.entries(r.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')}; builder ${r.builder.zone}/${r.builder.name} deleted`,
            'put it in the config:',
            '  host:',
            `    image: ${r.image}`,
            `bake again when host.trainer_image gets a new tag (or use ${r.familyImage} to always take the newest bake)`,
          ]);
        } catch (err) {
          if (err instanceof BakeInputInvalid) throw new CliError(err.message, EXIT.badInput);
          throw err;
        } finally {
          process.off('SIGINT', cancel);
          process.off('SIGTERM', cancel);
        }
      }),
    );
}
