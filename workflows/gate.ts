/**
 * The eval gate in the workflow: the thresholds (src/eval/gate.ts) pick a
 * candidate; with eval.require_approval a person approves or rejects it by
 * signal (our CLI or the Temporal UI) before anything is promoted, and no
 * decision within eval.approval_timeout_s ends the run without promoting.
 * Hosts are released before the gate, so waiting costs nothing.
 */
import { condition, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { EvalConfig } from '../src/config/schema';
import { checkThresholds, type GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import { approveSignal, GATE_ATTRIBUTE, rejectSignal, type GateDecision } from './messages';

export async function runGate(metrics: RunMetrics, cfg: EvalConfig, onChange: (gate: GateOutcome) => void): Promise<GateOutcome> {
  const verdict = checkThresholds(metrics, cfg);
  const base = {
    candidate: verdict.candidate,
    checks: verdict.checks,
    by: null,
    note: null,
    decidedAt: null,
    waitingSince: null,
    deadline: null,
  };
  const settle = (gate: GateOutcome): GateOutcome => {
    markGate(gate.state);
    onChange(gate);
    return gate;
  };
  if (verdict.candidate === null) return settle({ ...base, state: 'thresholds_failed', promote: null, reason: `not promoted: ${verdict.reason}` });
  if (!cfg.require_approval) {
    return settle({ ...base, state: 'automatic', promote: verdict.candidate, reason: `${verdict.reason}; promoted without approval (eval.require_approval is off)` });
  }

  let decision: { approved: boolean; by: string; note: string | null } | undefined;
  const take = (approved: boolean) => (d: GateDecision) => {
    decision ??= { approved, by: typeof d?.by === 'string' && d.by.trim() ? d.by.trim() : 'unknown', note: typeof d?.note === 'string' && d.note ? d.note : null };
  };
  setHandler(approveSignal, take(true));
  setHandler(rejectSignal, take(false));

  const since = new Date();
  const waiting: GateOutcome = {
    ...base,
    state: 'awaiting_approval',
    promote: null,
    waitingSince: since.toISOString(),
    deadline: new Date(since.getTime() + cfg.approval_timeout_s * 1000).toISOString(),
    reason: `${verdict.reason}; waiting for approve or reject of ${verdict.candidate} (signal approve/reject, or finetune approve|reject <run>)`,
  };
  settle(waiting);
  const decided = await condition(() => decision !== undefined, cfg.approval_timeout_s * 1000);
  const decidedAt = new Date().toISOString();
  if (!decided || !decision) {
    return settle({
      ...waiting,
      state: 'timed_out',
      decidedAt,
      reason: `not promoted: nobody approved or rejected ${verdict.candidate} within ${duration(cfg.approval_timeout_s)} (eval.approval_timeout_s)`,
    });
  }
  const { approved, by, note } = decision;
  return settle({
    ...waiting,
    state: approved ? 'approved' : 'rejected',
    promote: approved ? verdict.candidate : null,
    by,
    note,
    decidedAt,
    reason: approved
      ? `${verdict.candidate} approved by ${by}${note ? `: ${note}` : ''}`
      : `not promoted: ${verdict.candidate} rejected by ${by}${note ? `: ${note}` : ''}`,
  });
}

/** A run started with the FinetuneGate attribute (our CLI and client) keeps it current. */
function markGate(state: GateOutcome['state']): void {
  if (workflowInfo().typedSearchAttributes.get(GATE_ATTRIBUTE) !== undefined) upsertSearchAttributes([{ key: GATE_ATTRIBUTE, value: state }]);
}

function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
