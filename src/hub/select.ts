/**
 * Which files of a Hub model repo a host needs to load it with transformers:
 * the config, the weights in one format, the tokenizer and the chat template.
 * Everything else (README, other weight formats such as *.bin beside
 * safetensors, ONNX, GGUF, TF/Flax, `original/` checkpoints, remote code) is
 * left on the Hub: it would cost store space and download time for nothing.
 */

/** Top-level files that are always wanted when present. */
const ALWAYS = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'tokenizer.model',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'vocab.txt',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
]);

const SAFETENSORS = /^[^/]+\.safetensors$/;
const SAFETENSORS_INDEX = /^[^/]+\.safetensors\.index\.json$/;
const TORCH_BIN = /^pytorch_model[^/]*\.bin$/;
const TORCH_BIN_INDEX = /^pytorch_model\.bin\.index\.json$/;
/** transformers reads extra named chat templates from this folder. */
const EXTRA_TEMPLATES = /^additional_chat_templates\/[^/]+\.jinja$/;

export interface Selection {
  files: string[];
  /** Why the repo cannot be loaded, when it cannot. */
  problem?: string;
}

export function selectModelFiles(paths: string[]): Selection {
  const safetensors = paths.filter((p) => SAFETENSORS.test(p) || SAFETENSORS_INDEX.test(p));
  // Pickled *.bin weights only when the repo has no safetensors: same weights, slower and unsafe to load.
  const weights = safetensors.some((p) => SAFETENSORS.test(p)) ? safetensors : paths.filter((p) => TORCH_BIN.test(p) || TORCH_BIN_INDEX.test(p));
  const files = [...new Set([...paths.filter((p) => ALWAYS.has(p) || EXTRA_TEMPLATES.test(p)), ...weights])].sort();
  if (!paths.includes('config.json')) return { files, problem: 'has no config.json at the top level' };
  if (!weights.some((p) => SAFETENSORS.test(p) || TORCH_BIN.test(p))) return { files, problem: 'has no *.safetensors (or pytorch_model*.bin) weights at the top level' };
  return { files };
}
