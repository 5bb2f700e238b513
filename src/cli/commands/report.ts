/** `finetune report <run>`: the run's metrics and report files, read from its store. */
import type { Command } from 'commander';
import type { RunMetrics } from '../../eval/metrics';
import { runKey } from '../../jobs/contract';
import { formatMetricsTable } from '../../report/table';
import { openStore } from '../../store/open';
import { action } from '../action';
import { withRun } from '../connect';
import { CliError, EXIT } from '../errors';
import { runInfo, storeOf } from '../runInfo';

export function reportCommand(program: Command): void {
  program
    .command('report')
    .description("a run's eval metrics and the paths of its report, from the store")
    .argument('<run>', 'run id (workflow id)')
    .action(
      action(async ({ out }, runId: string) =>
        withRun(runId, async (t, { handle, description }) => {
          const info = runInfo(description);
          const storeUri = await storeOf(handle, info.status, t.dataConverter);
          const store = openStore(storeUri);
          const metrics = await store.getJson<RunMetrics>(runKey(runId, 'report/metrics.json'));
          if (!metrics) {
            throw new CliError(`run ${runId} has no report yet (${info.status}, stage ${info.stage ?? '-'}): it is written by the score stage`, EXIT.notFound);
          }
          const base = `${store.uri.replace(/\/$/, '')}/${runKey(runId, 'report')}`;
          const html = (await store.exists(runKey(runId, 'report/report.html'))) ? `${base}/report.html` : null;
          out.result({ runId, status: info.status, storeUri: store.uri, metricsUri: `${base}/metrics.json`, reportUri: html, metrics }, () => [
            formatMetricsTable(metrics, metrics.primaryMetric),
            '',
            `metrics: ${base}/metrics.json`,
            ...(html ? [`report: ${html}`] : []),
          ]);
        }),
      ),
    );
}
