/** `finetune approve <run>` / `finetune reject <run>`: a person's decision on the eval gate. */
import type { Command } from 'commander';
import * as os from 'node:os';
import { approveSignal, rejectSignal, type GateDecision } from '../../../workflows/messages';
import { action } from '../action';
import { withRun } from '../connect';
import { CliError, EXIT } from '../errors';

function decisionCommand(program: Command, verb: 'approve' | 'reject'): void {
  program
    .command(verb)
    .description(`${verb} a run waiting at its eval gate (eval.require_approval); signed with your OS user`)
    .argument('<run>', 'run id (workflow id)')
    .option('--note <text>', 'why, kept in the run history')
    .action(
      action<[string], { note?: string }>(async ({ out, opts }, runId) =>
        withRun(runId, async (_t, { handle, description }) => {
          if (description.status.name !== 'RUNNING') {
            throw new CliError(`run ${runId} is ${description.status.name}: only a running run takes a decision`, EXIT.badInput);
          }
          const decision: GateDecision = { by: os.userInfo().username, ...(opts.note ? { note: opts.note } : {}) };
          await handle.signal(verb === 'approve' ? approveSignal : rejectSignal, decision);
          out.result({ runId, decision: verb, ...decision }, [`${verb === 'approve' ? 'approved' : 'rejected'} ${runId} as ${decision.by}`]);
        }),
      ),
    );
}

export function decideCommands(program: Command): void {
  decisionCommand(program, 'approve');
  decisionCommand(program, 'reject');
}
