"""durable-finetune trainer: the host agent, its stages and the store client.

The package's layers, top to bottom. A module imports from its own layer or the ones below,
never from above, and only at module top (third-party libraries such as torch and transformers
may be imported inside a function: the agent and the simulated stage start without them).
trainer/.importlinter states the same layers for import-linter (the lint tier, scripts/lint.sh),
which also refuses import cycles and stages importing each other; trainer/tests/test_layers.py
fails on a package import inside a function.

1. Entry points, each run as `python -m`, none importing another: agent (the host agent),
   sim_stage (the simulated stage of tests and bench), plan_tokens (`finetune plan`'s token
   counts), tiny_model (the tiny test models), collective (preflight's all-reduce rank).
2. stages: one module per stage (preflight, sft, merge, dpo, generate), each its own
   `python -m durable_finetune.stages.<stage>`; a stage imports no other stage.
3. What the training and generating stages share: training (the durable training loop and its
   callbacks), dpo_guard (the DPO collapse guard), generation (greedy generation, also the
   guard's task probe), probe, families, prompts, tracking and tracking_sinks.
4. The stage runtime: stage_main (run_stage, the main of every stage process), launcher (the
   ranks of a multi-rank stage under torchrun), ranks (a rank's side of it), resume (where a
   training stage resumes), runtime (StageContext, StageFailure, the job's inputs, dtype and
   seed) and faults (test-only fault injection and the debug_* params, read from there alone).
5. The base, which knows no stage: store, contract, runs, checkpoint, progress, params,
   diagnosis, lifeline, fingerprint, timeutil, jsvalues, toolcall, secret_refs, gpus,
   chat_templates.
"""
