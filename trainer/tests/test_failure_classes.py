"""Every failure class the trainer writes is one the control plane knows (src/jobs/contract.ts's
FailureClass, mapped to a failure type and advice in src/jobs/failures.ts): that table is the one
source of the names, and a class missing there would reach the workflow as a bare StageFailed."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def control_plane_classes() -> set[str]:
    text = (ROOT / "src" / "jobs" / "contract.ts").read_text()
    union = re.search(r"export type FailureClass =([^;]+);", text)
    return set(re.findall(r"'([a-z0-9_]+)'", union.group(1)))


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
