/**
 * `finetune approve <run>` / `finetune reject <run>`: a person's decision on the
 * eval gate, sent as the approve or reject update. The run answers: the decision
 * it recorded (the approver is this client's identity, user@host), or why it
 * refuses (not at the gate yet, already decided, not in eval.approvers).
 */
import type { Command } from 'commander';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { approveUpdate, rejectUpdate, type GateDecision, type GateDecisionRequest } from '../../../workflows/messages';
import { action } from '../action';
import { withRun } from '../connect';
import { CliError, EXIT } from '../errors';

function decisionCommand(program: Command, verb: 'approve' | 'reject'): void {
  program
    .command(verb)
    .description(`${verb} a run waiting at its eval gate (eval.require_approval); the approver on record is you (user@host)`)
    .argument('<run>', 'run id (workflow id)')
    .option('--note <text>', 'why, kept in the run history and the report')
    .action(
      action<[string], { note?: string }>(async ({ out, opts }, runId) =>
        withRun(runId, async (_t, { handle, description }) => {
          if (description.status.name !== 'RUNNING') {
            throw new CliError(`run ${runId} is ${description.status.name}: only a running run takes a decision`, EXIT.badInput);
          }
          const request: GateDecisionRequest = opts.note ? { note: opts.note } : {};
          let recorded: GateDecision;
          try {
            recorded = await handle.executeUpdate(verb === 'approve' ? approveUpdate : rejectUpdate, { args: [request] });
          } catch (err) {
            // The gate's validator refused: its message says why (and the failure's type names the case).
            if (err instanceof WorkflowUpdateFailedError && err.cause) throw new CliError(`${verb} refused: ${err.cause.message}`, EXIT.badInput);
            throw err;
          }
          const past = recorded.decision === 'approve' ? 'approved' : 'rejected';
          out.result({ runId, ...recorded }, [
            `${past} ${recorded.candidate} of run ${runId} as ${recorded.by} at ${recorded.decidedAt}${recorded.note ? `: ${recorded.note}` : ''}`,
          ]);
        }),
      ),
    );
}

export function decideCommands(program: Command): void {
  decisionCommand(program, 'approve');
  decisionCommand(program, 'reject');
}
