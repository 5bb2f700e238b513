"""Injected crashes reach status.json with the right failure class and the log tail.

params.debug_inject is honoured only when FINETUNE_ALLOW_FAULT_INJECTION=1.
A hang writes no status at all: the control plane's hang_timeout turns it into
StageHung (test/integration/stage-faults.test.ts).
"""

import pytest
from durable_finetune.faults import debug_param
from stage_params import job_params

CASES = [  # fault, failure_class, a line the log tail must show
    ("segfault", "segfault", "Segmentation fault"),
    ("oom", "oom", "CUDA out of memory"),
    ("host_oom", "oom", "MemoryError"),
    ("disk_full", "disk_full", "No space left on device"),
]


def test_injected_crashes_are_classified(agent_factory, store):
    agent = agent_factory(env={"FINETUNE_ALLOW_FAULT_INJECTION": "1"})
    for n, (fault, klass, evidence) in enumerate(CASES, 1):
        job_id = f"sft-{n}"
        agent.post({"job_id": job_id, "stage": "sft", "params": job_params("sft", debug_inject=fault)})
        st = agent.wait_status("sft", job_id, timeout=60)
        assert st["state"] == "failed" and st["failure_class"] == klass, (fault, st)
        assert any(evidence in line for line in st["log_tail"]), (fault, st["log_tail"])
        assert st["exit_code"] != 0
    assert st["signal"] is None
    seg = store.get_bytes("runs/r1/stages/sft/logs/sft-1.log").decode()
    assert "Fatal Python error: Segmentation fault" in seg and "inject_fault" in seg  # faulthandler's stack


def test_debug_params_are_ignored_in_production(monkeypatch):
    monkeypatch.delenv("FINETUNE_ALLOW_FAULT_INJECTION", raising=False)
    assert debug_param({"debug_inject": "segfault"}, "debug_inject") is None
    monkeypatch.setenv("FINETUNE_ALLOW_FAULT_INJECTION", "1")
    assert debug_param({"debug_inject": "segfault"}, "debug_inject") == "segfault"


@pytest.mark.parametrize("fault", ["nonsense"])
def test_an_unknown_fault_is_bad_data(fault, monkeypatch):
    from durable_finetune.faults import inject_fault
    from durable_finetune.runtime import StageFailure

    with pytest.raises(StageFailure) as e:
        inject_fault(fault)
    assert e.value.failure_class == "bad_data"
