/**
 * tracking: in the config: MLflow and W&B take secret references only (never
 * echoed in an error), name their server and project in forms the clients
 * accept, and reach the training stages' job params only when configured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse';
import { trackingParams } from '../../src/config/trackingParams';
import { configIssue, remoteConfig } from '../support/config';

const base = remoteConfig('tracked');

test('no tracking: section means no tracking params; a configured one passes with its defaults', () => {
  const none = parseConfig(base);
  assert.deepEqual(none.tracking, {});
  assert.deepEqual(trackingParams(none.tracking), {});
  assert.deepEqual(trackingParams(undefined), {}, 'a run prepared before tracking: existed (a replayed history) has none');
  const c = parseConfig({
    ...base,
    tracking: { mlflow: { tracking_uri: 'http://127.0.0.1:5000' }, wandb: { project: 'tiny', api_key: 'secret:env:WANDB_API_KEY' } },
  });
  assert.deepEqual(trackingParams(c.tracking), {
    tracking: {
      mlflow: { tracking_uri: 'http://127.0.0.1:5000', experiment: 'durable-finetune' },
      wandb: { project: 'tiny', mode: 'online', api_key: 'secret:env:WANDB_API_KEY' },
    },
  });
});

test('a pasted W&B key or MLflow token is refused without echoing it', () => {
  for (const [tracking, field] of [
    [{ wandb: { project: 'p', api_key: 'e5a1c0ffee0123456789abcdef0123456789abcd' } }, 'tracking.wandb.api_key'],
    [{ mlflow: { tracking_uri: 'https://mlflow.example.com', token: 'dapi-pasted' } }, 'tracking.mlflow.token'],
  ] as const) {
    const found = configIssue({ ...base, tracking }, field);
    assert.equal(found.value, '<not shown>');
    assert.match(found.problem, /not a secret reference.*secret:env:/);
  }
});

test('an MLflow address with credentials in it, or not http(s), is refused with the fix', () => {
  const withPassword = configIssue({ ...base, tracking: { mlflow: { tracking_uri: 'https://me:pw@mlflow.example.com' } } }, 'tracking.mlflow.tracking_uri');
  assert.match(withPassword.problem, /without user:password@.*tracking\.mlflow\.token/);
  assert.match(configIssue({ ...base, tracking: { mlflow: { tracking_uri: 'sqlite:///m.db' } } }, 'tracking.mlflow.tracking_uri').problem, /http:\/\/ or https:\/\//);
});

test('a W&B project that W&B would refuse, an unknown mode, or an unknown backend names the field', () => {
  assert.match(configIssue({ ...base, tracking: { wandb: { project: 'my project' } } }, 'tracking.wandb.project').problem, /letters, digits/);
  configIssue({ ...base, tracking: { wandb: { project: 'p', mode: 'disabled' } } }, 'tracking.wandb.mode');
  configIssue({ ...base, tracking: { comet: {} } }, 'tracking');
});
