"""Hostile keys and ids, fuzzed (Hypothesis): every store key function of the
agent's side (check_key, the store's reads and writes, run_key, host_key,
stage_key, the run id rule, the agent's job check) given any text. Nothing
crashes, nothing lands outside the store root, every refusal is a named error
that prints no control character. test/unit/hostile-input.test.ts fuzzes the
TypeScript side and checks both agree on random keys and run ids."""

import os
import tempfile
import unicodedata

from durable_finetune import runs
from durable_finetune.agent import job_problem
from durable_finetune.store import FileStore, StoreKeyInvalid, check_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Lean: the Python tier is the suite's critical path. Derandomized, so a failure reproduces.
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PIECES = [
    "a",
    "b",
    "/",
    "/",
    ".",
    "..",
    "\\",
    " ",
    "%2e",
    "~",
    ":",
    "é",
    "日",
    "\x00",
    "\n",
    "\x7f",
    "\x85",
    "\u202e",
    "\ud800",
    "😀",
    "x" * 120,
]
KEY = st.one_of(st.lists(st.sampled_from(PIECES), max_size=12).map("".join), st.text(max_size=30))
RUN_ID = st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,133}\Z"), KEY)
STAGE = st.one_of(st.sampled_from(runs.STAGES), KEY)


def printable(message: str) -> bool:
    return not any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029\u202e" for c in message)


def inside(root, key: str) -> bool:
    return os.path.realpath(os.path.join(root, *key.split("/"))).startswith(os.path.realpath(root) + os.sep)


@settings(FUZZ, max_examples=80)
@given(key=KEY)
def test_a_key_is_refused_or_read_and_written_inside_the_store_root(tmp_path, key):
    store = FileStore(tempfile.mkdtemp(dir=tmp_path))  # one per example: a key may be another's folder
    try:
        normal = check_key(key)
    except StoreKeyInvalid as e:
        assert printable(str(e))
        for op in (lambda: store.put_bytes(key, b"x"), lambda: store.get_bytes(key), lambda: store.delete_prefix(key)):
            try:
                op()
            except StoreKeyInvalid:
                continue
            raise AssertionError(f"{key!r} was used") from None
        return
    assert inside(store.root, normal), key
    store.put_bytes(key, b"x")
    assert store.get_bytes(key) == b"x" and (store.root / normal).read_bytes() == b"x"
    store.delete_prefix(key)
    assert store.root.is_dir(), "no key wipes the store"


@FUZZ
@given(fn=st.sampled_from(["run", "host", "stage"]), run_id=RUN_ID, host_id=KEY, stage=STAGE, rest=KEY)
def test_the_run_key_functions_refuse_by_name_or_stay_in_the_runs_folder(fn, run_id, host_id, stage, rest):
    try:
        key = (
            runs.run_key(run_id, rest)
            if fn == "run"
            else runs.host_key(run_id, host_id, rest)
            if fn == "host"
            else runs.stage_key(run_id, stage, rest)
        )
    except (runs.RunIdInvalid, StoreKeyInvalid) as e:
        assert printable(str(e)) and str(e).startswith(("run id ", "host id ", "store key "))
        return
    assert runs.run_id_problem(run_id) is None
    normal = check_key(key)
    assert normal == f"runs/{run_id}" or (
        normal.startswith(f"runs/{run_id}/") and inside("/r/runs/" + run_id, normal[6 + len(run_id) :])
    )


@FUZZ
@given(job=st.fixed_dictionaries({}, optional={"job_id": st.one_of(RUN_ID, st.integers(), st.none()), "stage": STAGE}))
def test_the_agent_runs_only_a_job_whose_id_and_stage_name_safe_files(job):
    problem = job_problem(job)
    if problem is None:
        assert job["stage"] in runs.STAGES and runs.run_id_problem(job["job_id"]) is None
        runs.stage_key("r1", job["stage"], f"logs/{job['job_id']}.log")
    else:
        assert printable(problem)
