/**
 * What a lost host costs, as the progress query and the UI details tell it:
 * steps redone from the checkpoint the next job actually resumed from, time
 * to resume, and time lost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJobProgress, closeLosses, enterStage, newProgress, recordLoss, renderDetails } from '../../workflows/progress';

const at = (s: number): Date => new Date(Date.UTC(2026, 10, 28, 22, 0, s));

function sftRun() {
  const p = newProgress('r1', 'tiny', 'base', at(0));
  enterStage(p, 'sft', at(0));
  return p;
}

describe('host losses in the run progress', () => {
  it('counts steps after the last committed checkpoint as redone, and times the resume by the next job', () => {
    const p = sftRun();
    recordLoss(
      p,
      'sft',
      {
        hostId: 'r1-h1',
        reason: 'gone',
        preempted: false,
        lastStep: 27,
        lastCheckpointStep: 20,
        jobId: 'sft-1',
        resumedFromStep: 0,
        lastProgressAt: at(10).toISOString(),
        secondsPerStep: 0.5,
      },
      at(12),
    );
    assert.equal(p.hostLosses, 1);
    assert.equal(p.stepsRedone, 7);
    applyJobProgress(p, { jobId: 'sft-2', stage: 'sft', hostId: 'r1-h2', step: 20, totalSteps: 40, loss: 1, lastCheckpointStep: null, resumedFromStep: 20 }, at(25));
    assert.equal(p.losses[0].resumedAt, null, 'no new step yet');
    applyJobProgress(p, { jobId: 'sft-2', stage: 'sft', hostId: 'r1-h2', step: 21, totalSteps: 40, loss: 1, lastCheckpointStep: null, resumedFromStep: 20 }, at(30));
    const loss = p.losses[0];
    assert.equal(loss.secondsToResume, 20);
    assert.equal(loss.secondsLost, 24, '20 s to resume plus 7 steps at 0.5 s');
    assert.equal(p.secondsLost, 24);
    assert.match(renderDetails(p), /\| r1-h1 \| sft \| 27 \| 20 \| 7 \| 20 s \| 24 s \| gone \|/);
  });

  it("counts from the job's own resume point when it lost its host before committing a checkpoint", () => {
    const p = sftRun();
    recordLoss(p, 'sft', { hostId: 'r1-h2', reason: 'gone', preempted: false, lastStep: 25, lastCheckpointStep: null, jobId: 'sft-2', resumedFromStep: 20 }, at(5));
    assert.equal(p.stepsRedone, 5);
  });

  it('recounts when the next job resumed from an older checkpoint than expected', () => {
    const p = sftRun();
    recordLoss(
      p,
      'sft',
      { hostId: 'r1-h1', reason: 'gone', preempted: false, lastStep: 31, lastCheckpointStep: 30, jobId: 'sft-1', resumedFromStep: 0, lastProgressAt: at(0).toISOString() },
      at(1),
    );
    closeLosses(p, 'sft', at(9), 20);
    assert.equal(p.losses[0].checkpointStep, 20);
    assert.equal(p.stepsRedone, 11);
    assert.equal(p.secondsLost, 9);
  });
});
