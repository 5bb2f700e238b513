/**
 * contract/store.schema.json, the store contract as JSON Schema, written from the zod schemas
 * of src/jobs/contract.ts (the one source). Run after changing a store file's shape:
 *   npm run build && node dist/src/jobs/contractFile.js
 * test/unit/store-contract.test.ts fails while the committed file is stale; the trainer checks
 * its types and what it writes against the file (trainer/tests/test_contract.py).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../paths';
import { STORE_FILES } from './contract';

export const STORE_SCHEMA_FILE = path.join(projectRoot, 'contract', 'store.schema.json');

/**
 * One JSON Schema document: `files` names each file's key and writer and points into `$defs`,
 * where each file's schema is (validate one with {"$ref": "#/$defs/<name>"} against this document).
 */
export function storeJsonSchema(): Record<string, unknown> {
  const files: Record<string, unknown> = {};
  const defs: Record<string, unknown> = {};
  for (const [name, file] of Object.entries(STORE_FILES)) {
    const { $schema: _draft, ...schema } = z.toJSONSchema(file.schema) as Record<string, unknown>;
    defs[name] = schema;
    files[name] = { key: file.key, writer: file.writer, $ref: `#/$defs/${name}` };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $comment: 'Generated from src/jobs/contract.ts; do not edit. Regenerate: npm run build && node dist/src/jobs/contractFile.js',
    title: 'the store contract between the control plane and a host: its files, their keys under the store root, and their shapes',
    files,
    $defs: defs,
  };
}

export const storeSchemaFileText = (): string => `${JSON.stringify(storeJsonSchema(), null, 2)}\n`;

if (require.main === module) {
  fs.mkdirSync(path.dirname(STORE_SCHEMA_FILE), { recursive: true });
  fs.writeFileSync(STORE_SCHEMA_FILE, storeSchemaFileText());
  console.log(`wrote ${path.relative(projectRoot, STORE_SCHEMA_FILE)}`);
}
