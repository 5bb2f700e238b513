/**
 * References checked where they live, at the start of a run (prepareRun, on
 * the worker, before any host): a gs:// model folder must hold config.json,
 * as a local one must (load.ts), so a typo costs nothing instead of a VM
 * that boots and then cannot load the model, and its family must be one the
 * trainer supports. gs:// data is read by src/data/check.ts.
 */
import { modelFamilyProblem } from './modelFamily';
import { ConfigInvalid } from './parse';
import { openStore } from '../store/open';

export async function checkRemoteModel(base: string): Promise<void> {
  if (!base.startsWith('gs://')) return;
  const [bucket, ...rest] = base.slice('gs://'.length).split('/');
  const folder = rest.join('/').replace(/\/+$/, '');
  const modelConfig = await openStore(`gs://${bucket}`).getJson(`${folder}/config.json`);
  if (modelConfig === undefined) {
    throw new ConfigInvalid([
      {
        field: 'model.base',
        value: base,
        problem: `has no gs://${bucket}/${folder}/config.json; fix the path, or upload the model folder (config.json, the tokenizer and the weights)`,
      },
    ]);
  }
  checkModelFamily(base, modelConfig);
}

/** A model.base whose config.json names a family the trainer does not support is refused here, not on a booted host. */
export function checkModelFamily(base: string, modelConfig: unknown): void {
  const problem = modelFamilyProblem(modelConfig);
  if (problem) throw new ConfigInvalid([{ field: 'model.base', value: base, problem }]);
}
