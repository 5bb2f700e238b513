"""The store files this host writes, as typed dicts the writers build (so mypy checks each writer).

Their source is contract/store.schema.json, generated from src/jobs/contract.ts; these types
follow it, and trainer/tests/test_contract.py fails when a field, its type or whether it is
required differs, and when a file the trainer writes in its tests does not validate.
A progress history entry carries the metrics of its step as extra keys, so it stays a dict.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# A stage name is one of runs.STAGES (the schema's enum, checked by the test); typed as str here
# because it comes from job.json as read.
Stage = str
State = Literal["succeeded", "failed", "interrupted"]
AgentState = Literal["idle", "running", "stopping"]


class JobFile(TypedDict):
    """hosts/<host_id>/job.json, the mailbox the control plane writes and the agent reads."""

    job_id: str
    run_id: str
    host_id: str
    stage: Stage
    resume: bool
    created_at: str
    inputs: dict[str, str]
    params: dict[str, Any]


class AgentFile(TypedDict):
    """hosts/<host_id>/agent.json, the heartbeat."""

    host_id: str
    pid: int
    state: AgentState
    job_id: str | None
    stage: Stage | None
    stage_pid: int | None
    started_at: str
    job_started_at: str | None
    updated_at: str


class StartFile(TypedDict):
    """stages/<stage>/starts/<job_id>/<host_id>-<stage_pid>.json: one per stage process started."""

    job_id: str
    host_id: str
    agent_pid: int
    stage_pid: int
    started_at: str


class ProgressFile(TypedDict):
    """stages/<stage>/progress.json."""

    job_id: str
    stage: Stage
    step: int
    total_steps: int
    loss: float | None
    metrics: dict[str, float | None]
    last_checkpoint_step: int | None
    resumed_from_step: int
    history: list[dict[str, float | None]]
    updated_at: str


class Probe(TypedDict):
    """Last-token logits on the probe prompts (probe.py)."""

    argmax: list[int]
    mean: list[float]
    std: list[float]
    top: list[list[list[float]]]


class _Output(TypedDict):
    key: str
    fingerprint: str | None


class StageOutput(_Output, total=False):
    """status.json `output`: adapter_key for dpo, probe for sft, merge and dpo."""

    adapter_key: str
    probe: Probe


class StatusFile(TypedDict):
    """stages/<stage>/status.json."""

    job_id: str
    stage: Stage
    state: State
    failure_class: str | None
    message: str
    exit_code: int | None
    signal: str | None
    log_tail: list[str]
    output: StageOutput | None
    metrics: dict[str, Any]
    steps_done: int | None
    resumed_from_step: int | None
    started_at: str
    finished_at: str
    duration_s: float


class CommittedEntry(TypedDict):
    path: str
    size: int
    sha256: str


class CommittedFile(TypedDict):
    """stages/<stage>/checkpoints/checkpoint-<step>/COMMITTED.json, written last."""

    step: int
    job_id: str
    committed_at: str
    upload_seconds: float
    files: list[CommittedEntry]


# The schema's name of each file (contract/store.schema.json `files`) -> its type here.
FILES: dict[str, type] = {
    "job": JobFile,
    "agent": AgentFile,
    "start": StartFile,
    "progress": ProgressFile,
    "status": StatusFile,
    "committed": CommittedFile,
}
