/** The store spec (test/fixtures/store/spec.json) on the file:// store; test/support/storeSpec.ts runs it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileStore } from '../../src/store/file';
import { describeStoreSpec } from '../support/storeSpec';
import { scratchDir } from '../support/scratch';

describeStoreSpec('FileStore (file://)', async () => {
  const folder = scratchDir('store-spec-');
  const plant = async (key: string, text: string) => fs.writeFileSync(path.join(folder, key), text);
  return { store: new FileStore(pathToFileURL(folder).href), folder, plant };
});
