/**
 * What the CLI prints when Temporal answers a request with an error: what was asked and what the
 * server said (the demo once printed only "Failed to start Workflow", or an error of its own cleanup).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceError } from '@temporalio/client';
import { EXIT, exitCodeOf, messageOf } from '../../src/cli/errors';

/** A gRPC error as @grpc/grpc-js makes it: code, details, metadata. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: { getMap: () => ({}) } });
}

describe('messageOf', () => {
  it("names the request and the server's answer", () => {
    const err = new ServiceError('Failed to start Workflow', { cause: grpcError(4, 'DEADLINE_EXCEEDED: context deadline exceeded') });
    assert.equal(messageOf(err), 'Failed to start Workflow: 4 DEADLINE_EXCEEDED: context deadline exceeded');
    assert.equal(exitCodeOf(err), EXIT.runFailed);
  });

  it('says an unreachable server is unreachable, and leaves other errors as they are', () => {
    const down = new ServiceError('Failed to start Workflow', { cause: grpcError(14, 'UNAVAILABLE: connection refused') });
    assert.match(messageOf(down), /^Temporal is unreachable \(Failed to start Workflow\): is the server up\?$/);
    assert.equal(exitCodeOf(down), EXIT.unreachable);
    assert.equal(messageOf(new Error('plain')), 'plain');
  });
});
