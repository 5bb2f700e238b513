/**
 * The model families the trainer supports, read from the trainer's own list
 * (trainer/durable_finetune/families.json), so a base model of another family
 * is refused on the worker before a host is paid for, with the same list the
 * host would name after booting.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../paths';

interface FamiliesFile {
  families: Record<string, object>;
}

let supported: string[] | undefined;

export function supportedModelTypes(): string[] {
  supported ??= Object.keys((JSON.parse(fs.readFileSync(path.join(projectRoot, 'trainer/durable_finetune/families.json'), 'utf8')) as FamiliesFile).families).sort();
  return supported;
}

/** What is wrong with a model's config.json for the trainer, or undefined when its family is supported. */
export function modelFamilyProblem(configJson: unknown): string | undefined {
  const modelType = (configJson as { model_type?: unknown } | null)?.model_type;
  if (typeof modelType === 'string' && supportedModelTypes().includes(modelType)) return undefined;
  const what = typeof modelType === 'string' ? `model_type '${modelType}'` : 'no model_type';
  return `has ${what} in its config.json, which the trainer does not support; use a model of a supported family (model_type ${supportedModelTypes().join(', ')}; docs/config.md#model-families)`;
}
