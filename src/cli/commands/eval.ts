/** `finetune eval rescore <run>`: rebuilds a run's metrics and report from its store, no host needed. */
import type { Command } from 'commander';
import { rescoreRun, RunNotScorable } from '../../eval/rescore';
import { formatMetricsTable } from '../../report/table';
import { action } from '../action';
import { withRun } from '../connect';
import { CliError, EXIT } from '../errors';
import { storeOf } from '../runInfo';

function storeOfRun(runId: string): Promise<string> {
  return withRun(runId, (t, { handle, description }) => storeOf(handle, description.status.name, t.dataConverter));
}

export function evalCommand(program: Command): void {
  const evalCmd = program.command('eval').description('evaluation of finished runs');
  evalCmd
    .command('rescore')
    .description("recompute a run's metrics and report.html from its stored generations (new metric code, other thresholds)")
    .argument('<run>', 'run id (workflow id)')
    .option('--store <uri>', "the run's store; default: asked from Temporal")
    .action(
      action<[string], { store?: string }>(async ({ out, opts }, runId) => {
        const storeUri = opts.store ?? (await storeOfRun(runId));
        let rescored;
        try {
          rescored = await rescoreRun(storeUri, runId);
        } catch (err) {
          if (err instanceof RunNotScorable) throw new CliError(err.message, EXIT.notFound);
          throw err;
        }
        const { metrics, reportUri } = rescored;
        out.result({ runId, storeUri, metrics, reportUri }, () => [formatMetricsTable(metrics, metrics.primaryMetric), '', `report: ${reportUri}`]);
      }),
    );
}
