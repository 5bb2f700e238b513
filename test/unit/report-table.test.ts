import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMetricsTable } from '../../src/report/table';

test('models are columns in pipeline order, metrics are rows as percentages, the primary metric is marked', () => {
  const table = formatMetricsTable(
    {
      n: 48,
      models: {
        dpo: { tool_call_match: 0.8125, name_match: 1, valid_json: 1, tool_call_match_lenient: 0.85 },
        base: { tool_call_match: 0, name_match: 0.0625, valid_json: 0.125, tool_call_match_lenient: 0.02 },
        sft: { tool_call_match: 0.79166, name_match: 0.9791, valid_json: 1, tool_call_match_lenient: 0.8 },
      },
    },
    'tool_call_match',
  );
  assert.equal(
    table,
    [
      'metric (n=48)               base     sft     dpo',
      '-------------------------  -----  ------  ------',
      '* tool_call_match           0.0%   79.2%   81.3%',
      '  tool_call_match_lenient   2.0%   80.0%   85.0%',
      '  name_match                6.3%   97.9%  100.0%',
      '  valid_json               12.5%  100.0%  100.0%',
      '* primary metric',
    ].join('\n'),
  );
});

test('a metric a model lacks shows as a dash', () => {
  const table = formatMetricsTable({ n: 1, models: { base: { valid_json: 1 }, sft: { valid_json: 1, name_match: 0.5 } } }, 'name_match');
  assert.match(table, /\* name_match\s+-\s+50\.0%/);
});
