import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TRAINER = Path(__file__).resolve().parents[1]
ROOT = TRAINER.parent
sys.path.insert(0, str(TRAINER))

from durable_finetune.store import open_store  # noqa: E402
from servers import free_port  # noqa: E402,F401 - tests import it from here too
from store_contract import tree_problems  # noqa: E402


@pytest.fixture(autouse=True)
def store_files_keep_the_contract(request):
    """After each test that used tmp_path: every agent.json, progress.json, status.json,
    COMMITTED.json and start record the trainer wrote there validates against
    contract/store.schema.json (job.json is the control plane's, and tests post odd ones)."""
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is None:
        return
    found = tree_problems(root, {"agent", "start", "progress", "status", "committed"})
    assert not found, "store files off the contract (contract/store.schema.json):\n" + "\n".join(found[:20])


@pytest.fixture
def store(tmp_path):
    return open_store(f"file://{tmp_path / 'store'}")


class AgentProc:
    """The real agent as a subprocess against a file:// store."""

    def __init__(self, store, run: str, host: str, workdir: Path, env: dict | None = None):
        self.store, self.run, self.host = store, run, host
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_finetune.agent",
                "--store",
                store.uri,
                "--run",
                run,
                "--host",
                host,
                "--workdir",
                str(workdir),
                "--poll-s",
                "0.2",
                "--heartbeat-s",
                "1",
            ],
            env={**os.environ, "PYTHONPATH": str(TRAINER), **(env or {})},
            stdout=open(workdir.parent / f"agent-{host}.out", "ab"),
            stderr=subprocess.STDOUT,
        )

    def post(self, job: dict) -> None:
        job = {
            "run_id": self.run,
            "host_id": self.host,
            "resume": False,
            "created_at": "2026-11-28T22:00:00.000Z",
            "inputs": {},
            **job,
        }
        self.store.put_json(f"runs/{self.run}/hosts/{self.host}/job.json", job)

    def wait_status(self, stage: str, job_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.store.get_json(f"runs/{self.run}/stages/{stage}/status.json")
            if st and st.get("job_id") == job_id and self.idle_or_done(job_id):
                return st
            time.sleep(0.2)
        raise AssertionError(f"no status for {job_id} within {timeout}s")

    def idle_or_done(self, job_id: str) -> bool:
        a = self.store.get_json(f"runs/{self.run}/hosts/{self.host}/agent.json") or {}
        return a.get("job_id") != job_id

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def agent_factory(tmp_path, store):
    started = []

    def make(run="r1", host="h1", env=None):
        wd = tmp_path / f"work-{host}-{len(started)}"
        wd.mkdir()
        a = AgentProc(store, run, host, wd, env)
        started.append(a)
        return a

    yield make
    for a in started:
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()


def wait_for_checkpoint(store, stage, at_least, timeout=90, run="r1"):
    """The stage's progress.json once it reports a committed checkpoint at or past step `at_least`."""
    deadline = time.monotonic() + timeout
    prog = {}
    while time.monotonic() < deadline:
        prog = store.get_json(f"runs/{run}/stages/{stage}/progress.json") or {}
        if (prog.get("last_checkpoint_step") or 0) >= at_least:
            return prog
        time.sleep(0.1)
    raise AssertionError(f"no {stage} checkpoint at or past step {at_least} within {timeout} s: {prog}")


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def sft_merged_dir(request, tmp_path_factory):
    """The cached SFT-merged tiny model folder (see sft_merged.py); built on first use."""
    import sft_merged
    from durable_finetune.store import open_store as _open

    # Per machine, like the virtualenv (scripts/setup.sh): every clone on this machine, CI's
    # included, shares a build whose key (the trainer's source, data and params) matches.
    machine_cache = Path(
        os.environ.get("FINETUNE_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "durable-finetune"
    )
    cache_dir = machine_cache / "tiny-sft-merged" / sft_merged.cache_key()
    if (cache_dir / "status.json").exists():
        return cache_dir
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    root = tmp_path_factory.mktemp("sft-merged")
    store = _open((root / "store").as_uri())
    (root / "work").mkdir()
    agent = AgentProc(store, "r1", "builder", root / "work")
    try:
        return sft_merged.build(cache_dir, store, agent)
    finally:
        agent.proc.kill()
        agent.proc.wait()


@pytest.fixture
def merged(sft_merged_dir, store):
    """This test's store holding the SFT-merged model as the merge stage left it; returns its status."""
    import sft_merged

    return sft_merged.install(sft_merged_dir, store)
