/**
 * `finetune models`: the promoted models, newest first, with their lineage,
 * read from the registry records promote writes in the store
 * (registry/models/<runId>.json). Needs no Temporal server.
 */
import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile } from '../../config/load';
import { projectRoot } from '../../paths';
import { formatModels } from '../../registry/format';
import { baseFilterProblem, listModels } from '../../registry/list';
import { REGISTRY_PREFIX } from '../../registry/record';
import { FileStore } from '../../store/file';
import { openStore } from '../../store/open';
import { resolveStoreUri } from '../../store/uri';
import { action, positiveInt } from '../action';
import { CliError, EXIT } from '../errors';

interface ModelsOptions {
  store: string[];
  config?: string;
  base?: string;
  limit?: number;
}

/** The demo's config: its store (.finetune/store in the project) is where `finetune models` looks by default. */
const DEMO_CONFIG = path.join(projectRoot, 'examples/tiny/config.yaml');

function storesOf(opts: ModelsOptions): string[] {
  if (opts.store.length > 0) return opts.store.map((s) => resolveStoreUri(s, process.cwd()));
  if (opts.config) return [resolveStoreUri(loadConfigFile(opts.config).store, process.cwd())];
  return [resolveStoreUri(loadConfigFile(DEMO_CONFIG).store, projectRoot)];
}

export function modelsCommand(program: Command): void {
  program
    .command('models')
    .description(
      'the promoted models, newest first, with their lineage (run, base model and commit, data sha256, primary metric, approval, cost, where the weights are), from the store',
    )
    .option(
      '--store <uri>',
      'a store to read (folder, file:///abs or gs://bucket/prefix); repeat for several; default: the store of --config, else .finetune/store',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--config <file>', 'read the store this pipeline config names')
    .option('--base <ref>', 'only models trained from this base: hf:<org>/<name>[@<revision or commit>], or model.base as configured')
    .option('--limit <n>', 'at most n models (the newest)', positiveInt)
    .action(
      action<[], ModelsOptions>(async ({ out, opts }) => {
        const problem = opts.base === undefined ? undefined : baseFilterProblem(opts.base);
        if (problem) throw new CliError(`--base: ${problem}`, EXIT.badInput);
        const stores = storesOf(opts).map((uri) => openStore(uri));
        for (const store of stores) {
          if (store instanceof FileStore && !fs.existsSync(store.root)) {
            throw new CliError(`no store at ${store.root}: nothing has run there; name the store with --store <uri> or --config <file>`, EXIT.notFound);
          }
        }
        const { models, skipped } = await listModels(stores, { base: opts.base, limit: opts.limit });
        for (const s of skipped) out.warn(`finetune: skipped the registry record ${s.uri}: ${s.problem}`);
        const where = stores.map((s) => s.uri).join(', ');
        out.result(models, () =>
          models.length === 0
            ? [`no promoted models${opts.base ? ` from ${opts.base}` : ''} in ${where} (promote writes ${REGISTRY_PREFIX}/<run>.json there)`]
            : [`${models.length} promoted model${models.length === 1 ? '' : 's'} in ${where}, newest first:`, '', ...formatModels(models)],
        );
      }),
    );
}
