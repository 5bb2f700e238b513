/**
 * What a new run costs the worker before its first command: the workflow bundle
 * evaluates its modules again for every new run (the SDK's reusable V8 context
 * shares only its own modules), on the one workflow thread. zod's schemas were
 * most of that (bench:scale's burst, bench/README.md), so the workflow code must
 * reach them only through a call an old history makes (workflows/configInWorkflow.ts).
 * A fresh process stands for the bundle: webpack evaluates a module when, and only
 * when, node's require would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { FAILURE_TYPES } from '../../src/jobs/failures';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../workers/workflowSource';

/** The modules a process has evaluated after requiring `entries` and calling `then` (JavaScript, run there). */
function evaluatedAfter(entries: string[], then = ''): string[] {
  const script = `${entries.map((e) => `require(${JSON.stringify(e)});`).join('')}${then};process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
}

const zodOf = (modules: string[]) => modules.filter((m) => m.includes(`${path.sep}node_modules${path.sep}zod${path.sep}`));

test('loading the workflows and their interceptor evaluates no zod module', () => {
  const modules = evaluatedAfter([WORKFLOWS_PATH, ...WORKFLOW_INTERCEPTOR_MODULES]);
  assert.ok(
    modules.some((m) => m.endsWith(`pipeline.js`)),
    'the pipeline workflow was loaded',
  );
  assert.deepEqual(zodOf(modules), [], 'a module the workflows import at load time pulls zod in');
});

test('a run from before config-resolved still parses its config in the workflow, and only then loads zod', () => {
  const configInWorkflow = path.join(path.dirname(WORKFLOWS_PATH), 'configInWorkflow.js');
  // An empty config: the parser must run and refuse it as the workflow always did.
  const modules = evaluatedAfter(
    [WORKFLOWS_PATH],
    `try { require(${JSON.stringify(configInWorkflow)}).parsedInWorkflow({}) } catch (e) { if (e.type !== ${JSON.stringify(FAILURE_TYPES.ConfigInvalid.type)}) throw e }`,
  );
  assert.ok(zodOf(modules).length > 0, 'parsedInWorkflow did not load the parser');
});
