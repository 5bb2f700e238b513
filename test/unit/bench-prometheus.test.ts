import assert from 'node:assert/strict';
import { test } from 'node:test';
import { counterSum, histogram } from '../../bench/prometheus';

const TEXT = `# HELP finetune_store_operations store operations
# TYPE finetune_store_operations counter
finetune_store_operations{op="getJson",store="file"} 30
finetune_store_operations{op="putJson",store="file"} 12
temporal_request_latency_bucket{operation="RespondWorkflowTaskCompleted",task_queue="q",le="10"} 50
temporal_request_latency_bucket{operation="RespondWorkflowTaskCompleted",task_queue="q",le="100"} 90
temporal_request_latency_bucket{operation="RespondWorkflowTaskCompleted",task_queue="q",le="1000"} 99
temporal_request_latency_bucket{operation="RespondWorkflowTaskCompleted",task_queue="q",le="+Inf"} 100
temporal_request_latency_sum{operation="RespondWorkflowTaskCompleted",task_queue="q"} 5000
temporal_request_latency_count{operation="RespondWorkflowTaskCompleted",task_queue="q"} 100
temporal_request_latency_sum{operation="PollWorkflowTaskQueue",task_queue="q"} 9
temporal_request_latency_count{operation="PollWorkflowTaskQueue",task_queue="q"} 1
`;

test('a counter sums its series; labels filter them', () => {
  assert.equal(counterSum(TEXT, 'finetune_store_operations'), 42);
  assert.equal(counterSum(TEXT, 'finetune_store_operations', { op: 'putJson' }), 12);
  assert.equal(counterSum(TEXT, 'finetune_store_operations', { op: 'list' }), 0);
});

test('a histogram gives its mean, and each quantile as the upper bound of its bucket', () => {
  const h = histogram(TEXT, 'temporal_request_latency', { operation: 'RespondWorkflowTaskCompleted' });
  assert.equal(h.count, 100);
  assert.equal(h.mean, 50);
  assert.equal(h.quantile(0.5), 10);
  assert.equal(h.quantile(0.9), 100);
  assert.equal(h.quantile(0.99), 1000);
  assert.equal(h.quantile(1), Infinity);
  assert.ok(Number.isNaN(histogram(TEXT, 'temporal_request_latency', { operation: 'Nope' }).mean));
});
