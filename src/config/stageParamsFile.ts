/**
 * contract/stage-params.schema.json, the stage params the trainer must read, written from
 * src/config/stageParams.ts. Run after changing a stage's knobs:
 *   npm run build && node dist/src/config/stageParamsFile.js
 * test/unit/stage-params.test.ts fails while the committed file is stale.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../paths';
import { stageParamsJsonSchema } from './stageParams';

export const STAGE_PARAMS_FILE = path.join(projectRoot, 'contract', 'stage-params.schema.json');

export const stageParamsFileText = (): string => `${JSON.stringify(stageParamsJsonSchema(), null, 2)}\n`;

if (require.main === module) {
  fs.mkdirSync(path.dirname(STAGE_PARAMS_FILE), { recursive: true });
  fs.writeFileSync(STAGE_PARAMS_FILE, stageParamsFileText());
  console.log(`wrote ${path.relative(projectRoot, STAGE_PARAMS_FILE)}`);
}
