/**
 * The workflow code every worker, bundle and replayer loads: the workflows, and
 * the workflow interceptor that tells the eval gate who sent an approve or
 * reject (workflows/caller.ts). A worker without it refuses every decision.
 */
export const WORKFLOWS_PATH = require.resolve('../workflows');
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../workflows/caller')];
