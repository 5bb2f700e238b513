"""The launcher's reading of how ranks ended: which rank failed first, and with what class."""

from durable_finetune.launcher import only_consequences, rank_exits, rank_failure, wanted_ranks

# The tail of torchrun's ChildFailedError summary, as torch 2.x prints it.
SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
durable_finetune.stages.sft FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-11-29_00:55:03
  host      : box
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 4100)
  error_file: <N/A>
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-29_00:55:02
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -11 (pid: 4101)
  error_file: <N/A>
  traceback : Signal 11 (SIGSEGV) received by PID 4101
============================================================"""


def record(rank, klass, message, at, **extra):
    return {"rank": rank, "failure_class": klass, "message": message, "at": at, "known": False, **extra}


def test_torchrun_summary_gives_each_failed_rank_its_exit_code():
    assert rank_exits(SUMMARY) == {0: 1, 1: -11}


def test_a_rank_killed_by_a_signal_outranks_the_distributed_error_its_peer_saw():
    failures = {0: record(0, "distributed", "RuntimeError: Connection reset by peer", 100.0)}
    e = rank_failure(failures, rank_exits(SUMMARY), 2, 1, SUMMARY.splitlines())
    assert e.failure_class == "segfault"
    assert e.args[0].startswith("rank 1 of 2 failed: segfault: killed by SIGSEGV; then rank 0: distributed: ")
    assert e.args[0].endswith("(torchrun exit code 1)")


def test_a_classified_failure_carries_its_evidence_and_wins_over_an_earlier_consequence():
    failures = {
        1: record(1, "distributed", "Connection closed by peer", 99.0),
        0: record(0, "dpo_collapsed", "DPO collapsed at step 3", 100.0, metrics={"history": [1]}),
    }
    e = rank_failure(failures, {}, 2, 1, [])
    assert e.failure_class == "dpo_collapsed" and e.metrics == {"history": [1]}
    assert e.args[0].startswith("rank 0 of 2 failed: dpo_collapsed: DPO collapsed at step 3; then rank 1")


def test_the_same_check_failing_on_every_rank_reports_the_first():
    failures = {0: record(0, "continuity", "probe differs", 101.0), 1: record(1, "continuity", "probe differs", 100.5)}
    assert rank_failure(failures, {}, 2, 1, []).args[0].startswith("rank 1 of 2 failed: continuity: probe differs")


def test_torchrun_failing_before_any_rank_reports_is_classified_from_its_output():
    out = ["torch.distributed.DistNetworkError: failed to bind the rendezvous port"]
    e = rank_failure({}, {}, 2, 1, out)
    assert e.failure_class == "distributed" and "before any of the 2 ranks reported" in e.args[0]


def test_a_stop_that_only_killed_ranks_or_broke_their_collectives_is_not_a_failure():
    assert only_consequences({0: record(0, "distributed", "Connection reset", 1.0)}, {1: -15})
    assert not only_consequences({0: record(0, "oom", "CUDA out of memory", 1.0)}, {1: -15})
    assert not only_consequences({}, {1: -11})


def test_ranks_must_be_a_whole_number():
    assert wanted_ranks(1) == 1 and wanted_ranks(2) == 2
    # 'auto': one rank per GPU this host has, one without GPUs.
    import torch

    gpus = max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
    assert wanted_ranks("auto") == gpus
    for bad in (0, -1, 1.5, "two"):
        try:
            wanted_ranks(bad)
        except Exception as e:  # noqa: BLE001
            assert getattr(e, "failure_class", None) == "bad_data", bad
        else:
            raise AssertionError(f"ranks {bad!r} accepted")
