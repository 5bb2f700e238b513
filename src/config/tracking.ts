/**
 * `tracking:` in the config: where the training stages send their per-step
 * metrics while they run, besides the TensorBoard files every run writes to
 * runs/<run>/tensorboard/ in the store (docs/tracking.md). The host sends them
 * (trainer/durable_finetune/tracking.py), so a server named here must be
 * reachable from the host; a backend that fails is logged once and the run goes on.
 *
 *   tracking:
 *     mlflow: { tracking_uri: http://mlflow.internal:5000, experiment: my-finetunes }
 *     wandb: { project: my-finetunes, entity: my-team, api_key: secret:env:WANDB_API_KEY }
 */
import { z } from 'zod';
import { secretRefProblem } from '../secrets/ref';

/** A secret reference (secret:env: or secret:gcp:), never the secret; resolved on the host. */
const secretRef = z.string().superRefine((value, ctx) => {
  const problem = secretRefProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const MlflowTrackingConfig = z
  .object({
    tracking_uri: z
      .string()
      .regex(/^https?:\/\/[^\s/@]+(\/\S*)?$/, 'use the http:// or https:// address of an MLflow tracking server, without user:password@ (give a token as tracking.mlflow.token)'),
    experiment: z.string().min(1).max(256).default('durable-finetune'),
    /** A bearer token for a server that needs one (MLFLOW_TRACKING_TOKEN), as a secret reference. */
    token: secretRef.optional(),
  })
  .strict();

const wandbName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'use 1-128 letters, digits, _ . - as W&B names it');

export const WandbTrackingConfig = z
  .object({
    project: wandbName,
    entity: wandbName.optional(),
    /** offline: the host writes the W&B run files into its own folder (WANDB_DIR), for `wandb sync` later. */
    mode: z.enum(['online', 'offline']).default('online'),
    /** The W&B API key as a secret reference; online mode without it needs WANDB_API_KEY in the host's environment. */
    api_key: secretRef.optional(),
  })
  .strict();

export const TrackingConfig = z.object({ mlflow: MlflowTrackingConfig.optional(), wandb: WandbTrackingConfig.optional() }).strict();

export type TrackingConfig = z.infer<typeof TrackingConfig>;
