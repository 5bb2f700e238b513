/**
 * A model's parameter count, which sets its training FLOPs per token: from the
 * folder's config.json (dense decoder: embeddings, attention and MLP weights),
 * or from a Hub name that states it ("Qwen2.5-3B-Instruct": 3e9). Unknown
 * otherwise (a gs:// folder is not read for a plan).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isHfRef } from '../hub/ref';

interface TextConfig {
  hidden_size?: number;
  num_hidden_layers?: number;
  intermediate_size?: number;
  vocab_size?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  head_dim?: number;
  tie_word_embeddings?: boolean;
  text_config?: TextConfig;
}

/** Parameters of a dense decoder described by a transformers config; null when a size is missing. */
export function paramsOfConfig(config: TextConfig): number | null {
  const c = config.text_config ?? config;
  const { hidden_size: h, num_hidden_layers: layers, intermediate_size: mlp, vocab_size: vocab, num_attention_heads: heads } = c;
  if (!h || !layers || !mlp || !vocab || !heads) return null;
  const headDim = c.head_dim ?? h / heads;
  const kv = c.num_key_value_heads ?? heads;
  const attention = 2 * h * heads * headDim + 2 * h * kv * headDim;
  const embeddings = vocab * h * ((config.tie_word_embeddings ?? c.tie_word_embeddings) ? 1 : 2);
  return layers * (attention + 3 * h * mlp) + embeddings;
}

export interface ModelSize {
  params: number | null;
  source: string;
}

export function modelSize(base: string): ModelSize {
  if (isHfRef(base)) {
    const m = /[-_/](\d+(?:\.\d+)?)[bB](?![a-zA-Z0-9])/.exec(base);
    return m ? { params: Number(m[1]) * 1e9, source: `the name ${base}` } : { params: null, source: `${base} does not state its size in its name` };
  }
  if (base.startsWith('gs://')) return { params: null, source: 'a gs:// model folder is read when the run starts' };
  try {
    const params = paramsOfConfig(JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')) as TextConfig);
    return params === null ? { params, source: `${base}/config.json lacks a size` } : { params, source: `${base}/config.json` };
  } catch (err) {
    return { params: null, source: `${base}/config.json is unreadable: ${(err as Error).message}` };
  }
}
