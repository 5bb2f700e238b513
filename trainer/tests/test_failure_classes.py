"""Every failure class the trainer writes is one the control plane knows (status.json's
failure_class in contract/store.schema.json, generated from src/jobs/contract.ts, each mapped to
a failure type and advice in src/jobs/failures.ts): a class missing there would reach the
workflow as a bare StageFailed."""

import re
from pathlib import Path

from store_contract import schema

ROOT = Path(__file__).resolve().parents[2]


def control_plane_classes() -> set[str]:
    failure_class = schema()["$defs"]["status"]["properties"]["failure_class"]
    return {v for branch in failure_class["anyOf"] for v in branch.get("enum", [])}


def trainer_classes() -> set[str]:
    found = set()
    for py in (ROOT / "trainer" / "durable_finetune").rglob("*.py"):
        text = py.read_text()
        found |= set(re.findall(r'StageFailure\(\s*"([a-z0-9_]+)"', text))
        found |= set(re.findall(r'record_failure\([^)]*?"([a-z0-9_]+)"', text))
    return found


def test_every_failure_class_the_trainer_raises_is_in_the_control_planes_table():
    from durable_finetune.diagnosis import _PATTERNS

    known = control_plane_classes()
    assert {"gpu_missing", "bf16_unsupported", "dpo_collapsed", "error"} <= known
    raised = trainer_classes() | {klass for klass, _ in _PATTERNS} | {"segfault", "killed"}
    assert "gpu_missing" in raised and "bad_data" in raised
    assert raised <= known, f"classes the control plane does not know: {sorted(raised - known)}"
