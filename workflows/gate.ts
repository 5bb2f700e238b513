/**
 * The eval gate in the workflow: the thresholds (src/eval/gate.ts) pick a
 * candidate; with eval.require_approval a person approves or rejects it with
 * the approve or reject update (our CLI, the temporal CLI) before anything is
 * promoted, and no decision within eval.approval_timeout_s ends the run
 * without promoting. Hosts are released before the gate, so waiting costs nothing.
 *
 * The updates are registered when the run starts, so that a decision sent too
 * early is refused with where the run stands instead of being held until the
 * gate opens; a second decision is refused with the first; the approver is the
 * caller's client identity as the server recorded it (workflows/caller.ts),
 * never a name in the payload.
 */
import { ApplicationFailure, condition, log, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { EvalConfig } from '../src/config/schema';
import { mayDecide } from '../src/eval/approvers';
import { checkThresholds, type GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import { FAILURE_TYPES, type FailureType } from '../src/jobs/failures';
import { updateCaller } from './caller';
import { approveSignal, approveUpdate, GATE_ATTRIBUTE, rejectSignal, rejectUpdate, type GateDecision, type GateDecisionRequest, type LegacyGateDecision } from './messages';
import { PIPELINE_STAGES, type RunProgress } from './progress';

/** Longest note a decision may carry (it goes into history, gate.json and the report). */
const MAX_NOTE_CHARS = 2000;

type Verb = GateDecision['decision'];

export class EvalGate {
  /** The gate's state once it opened (null before). */
  private outcome: GateOutcome | null = null;
  private decision: (GateDecision & { via: 'update' | 'signal' }) | null = null;

  constructor(
    private cfg: EvalConfig,
    private readonly progress: Pick<RunProgress, 'runId' | 'stage' | 'state'>,
  ) {
    this.register(approveUpdate, 'approve');
    this.register(rejectUpdate, 'reject');
  }

  private register(update: typeof approveUpdate, verb: Verb): void {
    setHandler(update, (request) => this.take(verb, request), {
      validator: (request) => {
        const refused = this.refusal(verb, request);
        if (refused) throw ApplicationFailure.nonRetryable(refused.message, refused.type);
      },
      description: `${verb} the candidate waiting at the eval gate: {"note": "..."}; the approver is your client identity`,
    });
  }

  async run(metrics: RunMetrics, cfg: EvalConfig, onChange: (gate: GateOutcome) => void): Promise<GateOutcome> {
    this.cfg = cfg;
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
      this.outcome = gate;
      markGate(gate.state);
      onChange(gate);
      return gate;
    };
    if (verdict.candidate === null) return settle({ ...base, state: 'thresholds_failed', promote: null, reason: `not promoted: ${verdict.reason}` });
    if (!cfg.require_approval) {
      return settle({ ...base, state: 'automatic', promote: verdict.candidate, reason: `${verdict.reason}; promoted without approval (eval.require_approval is off)` });
    }

    this.listenToSignals(patched('gate-updates'), verdict.candidate);
    const since = new Date();
    const waiting: GateOutcome = {
      ...base,
      state: 'awaiting_approval',
      promote: null,
      waitingSince: since.toISOString(),
      deadline: new Date(since.getTime() + cfg.approval_timeout_s * 1000).toISOString(),
      reason: `${verdict.reason}; waiting for approve or reject of ${verdict.candidate} (finetune approve|reject <run>, or the approve/reject update)`,
    };
    settle(waiting);
    const decided = await condition(() => this.decision !== null, cfg.approval_timeout_s * 1000);
    const decision = this.decision;
    if (!decided || !decision) {
      return settle({
        ...waiting,
        state: 'timed_out',
        decidedAt: new Date().toISOString(),
        reason: `not promoted: nobody approved or rejected ${verdict.candidate} within ${duration(cfg.approval_timeout_s)} (eval.approval_timeout_s)`,
      });
    }
    const { decision: verb, by, note, decidedAt, via } = decision;
    const approved = verb === 'approve';
    return settle({
      ...waiting,
      state: approved ? 'approved' : 'rejected',
      promote: approved ? verdict.candidate : null,
      by,
      note,
      decidedAt,
      via,
      reason: approved ? `${verdict.candidate} approved by ${by}${note ? `: ${note}` : ''}` : `not promoted: ${verdict.candidate} rejected by ${by}${note ? `: ${note}` : ''}`,
    });
  }

  /**
   * Runs whose gate opened before the gate took updates decide by signal, with a typed
   * name (their histories must replay so); a newer gate logs such a signal and ignores it.
   */
  private listenToSignals(updatesOnly: boolean, candidate: 'sft' | 'dpo'): void {
    for (const [signal, verb] of [
      [approveSignal, 'approve'],
      [rejectSignal, 'reject'],
    ] as const) {
      setHandler(signal, (d: LegacyGateDecision) => {
        if (updatesOnly) {
          log.warn(
            `ignored the ${verb} signal of run ${this.progress.runId}: the gate takes the ${verb} update (finetune ${verb} <run>, or temporal workflow update execute --name ${verb})`,
          );
          return;
        }
        this.decision ??= {
          decision: verb,
          candidate,
          by: typeof d?.by === 'string' && d.by.trim() ? d.by.trim() : 'unknown',
          note: typeof d?.note === 'string' && d.note ? d.note : null,
          decidedAt: new Date().toISOString(),
          via: 'signal',
        };
      });
    }
  }

  /** The update's handler: runs once the validator accepted it, and again on replay (no validator then). */
  private take(verb: Verb, request: GateDecisionRequest | undefined): GateDecision {
    if (this.decision) throw ApplicationFailure.nonRetryable(alreadyDecided(this.progress.runId, this.decision), FAILURE_TYPES.GateAlreadyDecided.type);
    this.decision = {
      decision: verb,
      candidate: this.outcome!.candidate!,
      by: updateCaller().identity ?? 'unknown',
      note: request?.note ? request.note : null,
      decidedAt: new Date().toISOString(),
      via: 'update',
    };
    const { via: _via, ...recorded } = this.decision;
    return recorded;
  }

  /** Why this caller's decision cannot be taken now, or null when it can. */
  private refusal(verb: Verb, request: unknown): { type: FailureType; message: string } | null {
    const runId = this.progress.runId;
    const badRequest = requestProblem(verb, request);
    if (badRequest) return { type: FAILURE_TYPES.GateDecisionInvalid.type, message: badRequest };
    if (!this.cfg.require_approval) {
      return { type: FAILURE_TYPES.NoApprovalGate.type, message: `run ${runId} has no approval gate (eval.require_approval is off): the thresholds alone decide what is promoted` };
    }
    const caller = updateCaller();
    if (!caller.known) {
      return {
        type: FAILURE_TYPES.CallerUnknown.type,
        message: `this worker cannot tell who is calling (it did not load the workflow interceptor workflows/caller.ts), so it takes no decision: restart the worker from this release`,
      };
    }
    if (caller.identity === null) {
      return {
        type: FAILURE_TYPES.CallerUnknown.type,
        message: `the caller sent no client identity, so nobody would be on record as the approver: set the client's identity (finetune sets user@host; temporal --identity)`,
      };
    }
    if (!mayDecide(caller.identity, this.cfg.approvers)) {
      return { type: FAILURE_TYPES.ApproverNotAllowed.type, message: `${caller.identity} may not ${verb} run ${runId}: eval.approvers allows ${this.cfg.approvers!.join(', ')}` };
    }
    if (this.decision) return { type: FAILURE_TYPES.GateAlreadyDecided.type, message: alreadyDecided(runId, this.decision) };
    const gate = this.outcome;
    if (gate === null) return { type: FAILURE_TYPES.GateNotOpen.type, message: notOpenYet(this.progress) };
    if (gate.state === 'thresholds_failed') return { type: FAILURE_TYPES.GateClosed.type, message: `run ${runId} has nothing to ${verb}: ${gate.reason}` };
    if (gate.state === 'timed_out')
      return { type: FAILURE_TYPES.GateClosed.type, message: `run ${runId}'s gate closed at ${gate.decidedAt}: ${gate.reason.replace(/^not promoted: /, '')}; not promoted` };
    return null;
  }
}

function requestProblem(verb: Verb, request: unknown): string | null {
  if (request === undefined || request === null) return null;
  if (typeof request !== 'object' || Array.isArray(request)) return `${verb} takes {"note": "..."} or nothing, not ${Array.isArray(request) ? 'a list' : typeof request}`;
  const fields = Object.keys(request);
  if (fields.includes('by')) {
    return `${verb} takes no "by": the approver on record is the caller's client identity, as the server records it; send {"note": "..."} only`;
  }
  const unknown = fields.filter((f) => f !== 'note');
  if (unknown.length > 0) return `${verb} takes {"note": "..."} only: remove ${unknown.join(', ')}`;
  const note = (request as { note?: unknown }).note;
  if (note !== undefined && typeof note !== 'string') return `note must be text, not ${note === null ? 'null' : typeof note}`;
  if (typeof note === 'string' && note.length > MAX_NOTE_CHARS) return `note is ${note.length} characters: keep it under ${MAX_NOTE_CHARS}`;
  return null;
}

function alreadyDecided(runId: string, d: GateDecision): string {
  const past = d.decision === 'approve' ? 'approved' : 'rejected';
  return `run ${runId} was already ${past} by ${d.by} at ${d.decidedAt}${d.note ? ` ("${d.note}")` : ''}: a decision is final`;
}

function notOpenYet(p: Pick<RunProgress, 'runId' | 'stage' | 'state'>): string {
  if (p.state !== 'running') return `run ${p.runId} is ${p.state.replace('_', ' ')} (stage ${p.stage}): its gate never opened, so there is nothing to decide`;
  const before = PIPELINE_STAGES.slice(PIPELINE_STAGES.indexOf(p.stage) + 1, PIPELINE_STAGES.indexOf('gate'));
  const rest = before.length > 0 ? `after ${before.join(', ')}` : `when ${p.stage} ends`;
  return `run ${p.runId} is not at its eval gate yet: it is in stage ${p.stage}, and the gate opens ${rest}; decide once it waits for approval (finetune status shows it, and the awaiting_approval webhook fires)`;
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
