/** `finetune watch <run>` and `finetune cancel <run>`. */
import type { Command } from 'commander';
import { action } from '../action';
import { withRun } from '../connect';
import { followToEnd } from '../follow';

export function watchCommand(program: Command): void {
  program
    .command('watch')
    .description('follow a run with live progress bars until it ends (exit 1 if it failed or was cancelled)')
    .argument('<run>', 'run id (workflow id)')
    .action(
      action(async ({ out }, runId: string) =>
        withRun(runId, async (t, { handle, description }) => {
          const outcome = await followToEnd(handle, { out, link: t.link(runId), startedMs: description.startTime.getTime() });
          out.result(outcome.summary, []);
          return outcome.exit;
        }),
      ),
    );

  program
    .command('cancel')
    .description('cancel a run: its hosts are released, its committed checkpoints stay in the store')
    .argument('<run>', 'run id (workflow id)')
    .action(
      action(async ({ out }, runId: string) =>
        withRun(runId, async (_t, { handle, description }) => {
          const status = description.status.name;
          if (status !== 'RUNNING') {
            out.result({ runId, cancelRequested: false, status }, [`run ${runId} is already ${status}: nothing to cancel`]);
            return;
          }
          await handle.cancel();
          out.result({ runId, cancelRequested: true, status }, [`cancellation requested for ${runId}: it releases its hosts and ends as cancelled`]);
        }),
      ),
    );
}
