/**
 * A scored run in a temporary file store, built from crafted outputs: tool
 * calls (from the tiny example's eval set), cited answers in which the base
 * model sprinkles [1] on claims its sources do not make, and short answers
 * that match only after normalisation; with SFT and DPO progress histories,
 * stage statuses and a host loss. Report tests render and open it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EvalConfig } from '../../src/config/schema';
import type { EvalItem } from '../../src/eval/items';
import { scoreStoredRun, type ScoreContext } from '../../src/eval/rescore';
import type { Generation } from '../../src/eval/score';
import { runKey, stageKey } from '../../src/jobs/contract';
import type { ProgressPoint } from '../../src/jobs/contract';
import { FileStore } from '../../src/store/file';
import { scratchDir } from './scratch';

export interface ReportFixture {
  dir: string;
  store: FileStore;
  runId: string;
  ctx: ScoreContext;
  items: EvalItem[];
}

const DOCS = {
  'doc-tower': [
    'The Eiffel Tower was completed in 1889 for the World Fair in Paris and is 330 metres tall.',
    'Gustave Eiffel company designed and built the tower; it was the tallest structure in the world until 1930.',
  ],
  'doc-louvre': [
    'The Louvre is the most visited museum in the world, with about 8.7 million visitors in 2023.',
    'The Mona Lisa by Leonardo da Vinci has hung in the Louvre since 1797.',
  ],
  'doc-seine': [
    'The Seine is a 777 kilometre river that flows through Paris into the English Channel at Le Havre.',
    'Swimming in the Seine was banned in 1923 and allowed again in 2025 after a large clean-up.',
  ],
};

const CITED: { cluster: keyof typeof DOCS; q: string; good: string; wrongSource: string }[] = [
  {
    cluster: 'doc-tower',
    q: 'When was the Eiffel Tower completed and how tall is it?',
    good: 'The Eiffel Tower was completed in 1889 for the World Fair [1]. It is 330 metres tall [1].',
    wrongSource: 'The Eiffel Tower was completed in 1889 for the World Fair [2].',
  },
  {
    cluster: 'doc-tower',
    q: 'Who built the Eiffel Tower?',
    good: "Gustave Eiffel's company designed and built the tower [2]. It stayed the tallest structure in the world until 1930 [2].",
    wrongSource: 'Gustave Eiffel company designed and built the tower [1].',
  },
  {
    cluster: 'doc-louvre',
    q: 'How many people visit the Louvre?',
    good: 'The Louvre is the most visited museum in the world [1], with about 8.7 million visitors in 2023 [1].',
    wrongSource: 'The Louvre had about 8.7 million visitors in 2023 [2].',
  },
  {
    cluster: 'doc-louvre',
    q: 'Since when is the Mona Lisa in the Louvre?',
    good: 'The Mona Lisa by Leonardo da Vinci has hung in the Louvre since 1797 [2].',
    wrongSource: 'The Mona Lisa has hung in the Louvre since 1797 [1].',
  },
  {
    cluster: 'doc-seine',
    q: 'How long is the Seine?',
    good: 'The Seine is a 777 kilometre river [1]. It flows through Paris into the English Channel at Le Havre [1].',
    wrongSource: 'The Seine is a 777 kilometre river [2].',
  },
  {
    cluster: 'doc-seine',
    q: 'Can you swim in the Seine?',
    good: 'Swimming in the Seine was banned in 1923 [2] and allowed again in 2025 after a large clean-up [2].',
    wrongSource: 'Swimming in the Seine was allowed again in 2025 [1].',
  },
];

const SPRINKLED = [
  'Paris is famous for its cafes and long summer evenings [1]. Many visitors rent bicycles to see the city [1].',
  'The city has dozens of bridges and beautiful parks [1]. Locals recommend visiting in spring [1].',
];

const ANSWERS = [
  { cluster: 'qa-geo', q: 'What is the capital of France?', reference: 'Paris', sft: 'Paris.', dpo: 'Paris' },
  { cluster: 'qa-geo', q: 'Which river flows through Paris?', reference: 'the Seine', sft: 'The Seine.', dpo: 'Seine' },
  { cluster: 'qa-num', q: 'How tall is the Eiffel Tower in metres?', reference: '330', sft: '330.0', dpo: '330' },
  { cluster: 'qa-num', q: 'How many visitors did the Louvre have in 2023?', reference: '8,700,000', sft: '8700000', dpo: '8.7 million' },
];

function curve(steps: number, f: (step: number) => Record<string, number>): ProgressPoint[] {
  return Array.from({ length: steps }, (_, i) => ({ step: i + 1, ...f(i + 1) }));
}

export async function buildReportFixture(): Promise<ReportFixture> {
  const dir = scratchDir('finetune-report-');
  const store = new FileStore(`file://${dir}`);
  const runId = 'report-fixture-1';

  const toolText = fs.readFileSync(path.join(__dirname, '../../../examples/tiny/data/eval.jsonl'), 'utf8');
  const toolItems = toolText
    .split('\n')
    .filter(Boolean)
    .slice(0, 12)
    .map((l) => JSON.parse(l) as EvalItem);
  const citedItems: EvalItem[] = CITED.map((c, i) => ({
    id: `cite-${i + 1}`,
    cluster: c.cluster,
    messages: [
      { role: 'system', content: 'Answer from the numbered sources and cite them as [n].' },
      { role: 'user', content: c.q },
    ],
    sources: DOCS[c.cluster].map((text, j) => ({ index: j + 1, text })),
  }));
  const answerItems: EvalItem[] = ANSWERS.map((a, i) => ({
    id: `qa-${i + 1}`,
    cluster: a.cluster,
    messages: [{ role: 'user', content: a.q }],
    reference: a.reference,
  }));
  const items = [...toolItems, ...citedItems, ...answerItems];

  const call = (item: EvalItem, tweak?: (args: Record<string, unknown>) => Record<string, unknown>) =>
    JSON.stringify({ name: item.expected_call!.name, arguments: tweak ? tweak(item.expected_call!.arguments) : item.expected_call!.arguments });
  const generations: Generation[] = [];
  const add = (model: string, item: EvalItem, output: string) => generations.push({ model, item_id: item.id, output });
  toolItems.forEach((item, i) => {
    add('base', item, i % 3 === 0 ? `I would call ${item.expected_call!.name} for that.` : 'Sure! Let me check that for you.');
    add('sft', item, i % 4 === 3 ? `Here you go: ${call(item)}` : call(item));
    add('dpo', item, i === 5 ? call(item, (a) => ({ ...a, extra: true })) : call(item));
  });
  citedItems.forEach((item, i) => {
    add('base', item, SPRINKLED[i % 2]);
    add('sft', item, i % 3 === 2 ? CITED[i].wrongSource : CITED[i].good);
    add('dpo', item, i === 1 ? `${CITED[i].good} It is made of pure gold [3].` : CITED[i].good);
  });
  answerItems.forEach((item, i) => {
    add('base', item, 'I am not sure.');
    add('sft', item, ANSWERS[i].sft);
    add('dpo', item, ANSWERS[i].dpo);
  });

  await store.putBytes(runKey(runId, 'data/eval.jsonl'), Buffer.from(items.map((i) => JSON.stringify(i)).join('\n') + '\n'));
  const generationsKey = stageKey(runId, 'generate', 'output/generations.jsonl');
  await store.putBytes(generationsKey, Buffer.from(generations.map((g) => JSON.stringify(g)).join('\n') + '\n'));

  const sftHistory = curve(250, (s) => ({ loss: 0.25 + 3.2 * Math.exp(-s / 40) + 0.08 * Math.sin(s / 3), learning_rate: 2e-4 }));
  const dpoHistory = curve(60, (s) => {
    const chosen = 0.02 * s * (1 - s / 200);
    const rejected = -0.05 * s;
    return {
      loss: 0.693 * Math.exp(-s / 45) + 0.05,
      'rewards/chosen': chosen,
      'rewards/rejected': rejected,
      'rewards/margins': chosen - rejected,
      'rewards/accuracies': Math.min(1, 0.5 + s / 80),
    };
  });
  const progress = (stage: 'sft' | 'dpo', history: ProgressPoint[]) =>
    store.putJson(stageKey(runId, stage, 'progress.json'), {
      job_id: `${stage}-1`,
      stage,
      step: history.length,
      total_steps: history.length,
      loss: history.at(-1)!.loss,
      metrics: {},
      last_checkpoint_step: history.length,
      resumed_from_step: 0,
      history,
      updated_at: '2026-11-28T22:40:00.000Z',
    });
  await progress('sft', sftHistory);
  await progress('dpo', dpoHistory);
  // What the training stages upload (trainer/durable_finetune/tracking.py): event files per lineage.
  for (const lineage of ['sft', 'dpo', 'dpo.r2']) {
    await store.putBytes(runKey(runId, `tensorboard/${lineage}/events.out.tfevents.1796236975.host.1.0`), Buffer.from('events'));
  }
  const timings: [string, string, number][] = [
    ['preflight', 'preflight-1', 21],
    ['sft', 'sft-2', 412],
    ['merge', 'merge-1', 35],
    ['dpo', 'dpo-1', 198],
    ['generate', 'generate-1', 64],
  ];
  for (const [stage, jobId, seconds] of timings) {
    await store.putJson(stageKey(runId, stage as 'sft', 'status.json'), {
      job_id: jobId,
      stage,
      state: 'succeeded',
      failure_class: null,
      message: '',
      exit_code: 0,
      signal: null,
      log_tail: [],
      output: null,
      metrics: {},
      steps_done: 0,
      resumed_from_step: 0,
      duration_s: seconds,
      started_at: '2026-11-28T22:00:00.000Z',
      finished_at: '2026-11-28T22:10:00.000Z',
    });
  }
  const evalConfig = EvalConfig.parse({ primary_metric: 'tool_call_match' });
  await store.putJson(runKey(runId, 'run.json'), { run_id: runId, config: { eval: evalConfig }, prepared_at: '2026-11-28T22:00:00.000Z' });
  const stage = (attempts: number) => ({ state: 'succeeded', attempts, startedAt: '2026-11-28T22:00:00.000Z', finishedAt: '2026-11-28T22:10:00.000Z' });
  const ctx: ScoreContext = {
    runId,
    evalKey: runKey(runId, 'data/eval.jsonl'),
    generationsKey,
    primaryMetric: 'tool_call_match',
    eval: evalConfig,
    run: {
      startedAt: new Date(Date.now() - 754_000).toISOString(),
      hostLosses: 1,
      stepsRedone: 12,
      cost: {
        spentUsd: 3.4567,
        wastedUsd: 0.52,
        budgetUsd: 10,
        managedUsd: 1.25,
        split: { bootUsd: 0.31, productiveUsd: 2.6267, wastedUsd: { redone: 0.4, idle: 0.08, failed: 0.04 }, failedProvisions: { withVm: 1, withoutVm: 1 }, capacityWaitS: 420 },
      },
      stages: { provision: stage(1), preflight: stage(1), sft: stage(2), merge: stage(1), dpo: stage(1), generate: stage(1), score: stage(1) },
    },
  };
  await scoreStoredRun(store, ctx);
  return { dir, store, runId, ctx, items };
}
