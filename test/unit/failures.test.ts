/**
 * The failure table (src/jobs/failures.ts) names every ApplicationFailure type
 * the product raises or matches on: the types written in the source of src/,
 * workflows/, activities/ and workers/, and the names of the error classes an
 * activity turns into a failure of the same type. Each says whether a retry
 * may help and what the user does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FAILURES, FAILURE_TYPES, failureKind, nonRetryable, type FailureType } from '../../src/jobs/failures';
import { adviceFor } from '../../src/notify/failure';
import { runFailure } from '../../src/cli/follow';
import { ApplicationFailure } from '@temporalio/common';

const ROOT = path.resolve(__dirname, '../../..');
const FOLDERS = ['src', 'workflows', 'activities', 'workers'];

/** Error classes whose name an activity gives its failure (type: err.name). */
const NAMED_BY_CLASS = ['src/hub/errors.ts', 'src/secrets/errors.ts', 'src/config/parse.ts', 'src/cost/prices.ts', 'src/data/check.ts', 'src/jobs/runId.ts'];
const GCE_CLASSES = ['QuotaExceeded', 'CapacityUnavailable', 'HostConfigInvalid', 'VmNameTaken', 'ProvisionPending'];

function sources(): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push({ file: rel, text: fs.readFileSync(path.join(ROOT, rel), 'utf8') });
    }
  };
  FOLDERS.forEach(walk);
  return out;
}

/** The failure types written as text: `type: 'X'`, `.type === 'X'`, ApplicationFailure.nonRetryable(message, 'X'), nonRetryableErrorTypes: ['X'], nonRetryable('X', ...). */
function typesWritten(text: string): string[] {
  const pascal = `'([A-Z][a-z][A-Za-z]*)'`;
  const one = [
    new RegExp(`\\btype:\\s*${pascal}`, 'g'),
    new RegExp(`\\.type\\s*[!=]==?\\s*${pascal}`, 'g'),
    new RegExp(`ApplicationFailure\\.(?:nonRetryable|retryable)\\([\\s\\S]{0,400}?,\\s*${pascal}\\s*[,)]`, 'g'),
  ].flatMap((re) => [...text.matchAll(re)].map((m) => m[1]));
  const lists = [/nonRetryableErrorTypes:\s*\[([^\]]*)\]/g, /(?<![.\w])nonRetryable\(([^)]*)\)/g].flatMap((re) =>
    [...text.matchAll(re)].flatMap((m) => [...m[1].matchAll(/'([A-Za-z]+)'/g)].map((x) => x[1])),
  );
  return [...one, ...lists];
}

describe('the failure table', () => {
  it('names every failure type written in the source', () => {
    const missing: string[] = [];
    for (const { file, text } of sources()) {
      // Its own rows are the table, not a use of it.
      if (file === path.join('src', 'jobs', 'failures.ts')) continue;
      for (const type of typesWritten(text)) if (!failureKind(type)) missing.push(`${type} (${file})`);
    }
    assert.deepEqual(missing, []);
  });

  it('finds the types however they are written', () => {
    const written = typesWritten(
      "throw ApplicationFailure.nonRetryable(`lost ${n} (${m}); last: ${r}`, 'OneKind', { n });\n" +
        "ApplicationFailure.create({ type: 'TwoKind', message });\n" +
        "if (cause.type === 'ThreeKind') return;\n" +
        "retry: { nonRetryableErrorTypes: ['FourKind', 'FiveKind'] }, other: nonRetryable('SixKind')",
    );
    assert.deepEqual(written.sort(), ['FiveKind', 'FourKind', 'OneKind', 'SixKind', 'ThreeKind', 'TwoKind']);
  });

  it('names every error class an activity turns into a failure of its name', () => {
    const names: string[] = [];
    for (const file of NAMED_BY_CLASS) {
      for (const m of fs.readFileSync(path.join(ROOT, file), 'utf8').matchAll(/readonly name(?::\s*string)?\s*=\s*'([A-Za-z]+)'/g)) names.push(m[1]);
    }
    assert.ok(names.includes('HubUnavailable') && names.includes('ConfigInvalid'), `the class names were read: ${names.join(', ')}`);
    assert.deepEqual(
      [...names, ...GCE_CLASSES].filter((n) => !failureKind(n)),
      [],
    );
  });

  it('gives each type once, under its own name, with advice', () => {
    for (const [name, kind] of Object.entries(FAILURE_TYPES)) {
      assert.equal(kind.type, name);
      assert.ok(kind.advice.trim().length > 0, `${name} has no advice`);
      assert.equal(typeof kind.retryable, 'boolean');
    }
    const types = Object.values(FAILURE_TYPES).map((k) => k.type);
    assert.equal(new Set(types).size, types.length);
  });

  it('maps every stage failure class to a row of the table, which the notify advice reads', () => {
    for (const [klass, kind] of Object.entries(FAILURES)) {
      assert.equal(failureKind(kind.type), kind, klass);
      assert.equal(kind.retryable, false, `${klass}: a stage's failure is not retried by the activity`);
      assert.equal(adviceFor(kind.type), kind.advice);
    }
    assert.equal(adviceFor('NoSuchFailure'), null);
    // Every row's advice reaches the webhook, not only a stage's.
    assert.equal(adviceFor(FAILURE_TYPES.TooManyHostLosses.type), FAILURE_TYPES.TooManyHostLosses.advice);
  });

  it("gives the CLI a failed run's type and advice, once", () => {
    // As a client sees a failed run: WorkflowFailedError -> ActivityFailure -> ApplicationFailure.
    const wrapped = (inner: Error) => Object.assign(new Error('Workflow execution failed'), { cause: Object.assign(new Error('Activity task failed'), { cause: inner }) });
    const lost = runFailure(wrapped(ApplicationFailure.nonRetryable('lost 3 hosts, more than monitor.max_host_losses (2)', 'TooManyHostLosses')));
    assert.deepEqual(lost, { message: 'lost 3 hosts, more than monitor.max_host_losses (2)', type: 'TooManyHostLosses', advice: FAILURE_TYPES.TooManyHostLosses.advice });
    // A stage's failure carries its advice in the message already: not said twice.
    const oom = FAILURES.oom;
    assert.equal(runFailure(wrapped(ApplicationFailure.nonRetryable(`sft failed on h1 (oom): CUDA out of memory. ${oom.advice}`, oom.type))).advice, null);
    assert.deepEqual(runFailure(wrapped(ApplicationFailure.nonRetryable('odd', 'NoSuchFailure'))), { message: 'odd', type: 'NoSuchFailure', advice: null });
    assert.deepEqual(runFailure(new Error('plain')), { message: 'plain', type: null, advice: null });
  });

  it('gives a retry policy only non-retryable types, in the order named', () => {
    assert.deepEqual(nonRetryable('QuotaExceeded', 'CapacityUnavailable', 'HostConfigInvalid'), ['QuotaExceeded', 'CapacityUnavailable', 'HostConfigInvalid']);
    assert.throws(() => nonRetryable('HubUnavailable'), /HubUnavailable is retryable/);
    assert.equal(failureKind('toString'), undefined);
    const retryable = Object.values(FAILURE_TYPES)
      .filter((k) => k.retryable)
      .map((k) => k.type as FailureType);
    assert.deepEqual(retryable.sort(), ['HubUnavailable', 'ProvisionPending']);
  });
});
