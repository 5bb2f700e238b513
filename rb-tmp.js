const fs = require('fs'), path = require('path');
const { temporal } = require('@temporalio/proto');
const { Worker, bundleWorkflowCode } = require('@temporalio/worker');
const { WORKFLOWS_PATH, WORKFLOW_INTERCEPTOR_MODULES } = require('/work/main/dist/workers/workflowSource');
const dir = process.env.HDIR || '/work/main/test/fixtures/histories';
const file = process.argv[2] || 'config-resolved/succeeded.json';
const N = Number(process.argv[3] || 100);
const h = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
(async () => {
  const quiet = { log(){}, trace(){}, debug(){}, info(){}, warn(){}, error(){} };
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, logger: quiet, preloadModules: process.env.PRELOAD ? process.env.PRELOAD.split(',') : undefined });
  async function* gen() { for (let i = 0; i < N; i++) yield { history: h, workflowId: path.basename(file, '.json') }; }
  const t = performance.now();
  let fails = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle, debugMode: !!process.env.DEBUGMODE }, gen())) if (r.error) { fails++; if (fails < 2) console.log(r.error); }
  const ms = performance.now() - t;
  const cu = process.cpuUsage(); console.log(JSON.stringify({ file, N, ms_per_history: +(ms / N).toFixed(1), cpu_ms_total: Math.round((cu.user + cu.system) / 1000), fails }));
})();
