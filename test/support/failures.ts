/** What tests assert about activity failures and refused updates. */
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/** The ApplicationFailure that `p` rejected with; fails the test when `p` succeeds or throws anything else. */
export async function applicationFailureOf(p: Promise<unknown>, what: string): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail(`${what} succeeded`);
}

/** The ApplicationFailure a workflow update was refused with (its validator's or handler's); fails the test when `p` succeeds. */
export async function updateRefusalOf(p: Promise<unknown>, what: string): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
    return err.cause;
  }
  assert.fail(`${what} was accepted`);
}
