/** What tests assert about activity failures. */
import assert from 'node:assert/strict';
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
