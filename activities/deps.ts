/** What the activities need from the worker that hosts them. */
import type { JobProgress } from './types';

export interface ActivityDeps {
  /** The repository root: where trainer/ lives and relative paths resolve. */
  projectRoot: string;
  /** The python that runs the agent on local hosts. */
  python: string;
  /** The worker's environment: HF_ENDPOINT and the variables secret:env: references name (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Reports a job's progress into the run's workflow (a signal). */
  reportProgress(workflowId: string, progress: JobProgress): Promise<void>;
}
