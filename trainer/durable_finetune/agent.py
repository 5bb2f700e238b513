"""The host agent: takes jobs from the store mailbox and runs stages detached.

    python -m durable_finetune.agent --store URI --run RUN_ID --host HOST_ID [--workdir DIR]

Loop: heartbeat hosts/<host>/agent.json; read hosts/<host>/job.json; a job_id
not seen before (not running, not finished by this agent, and not already
in stages/<stage>/status.json) is started as a subprocess in the agent's own
process group (the host's group: killing the host kills its stages; the stage
also gets SIGKILL if the agent alone dies, so no orphan keeps training beside
a resumed job) with a sanitised environment (sanitise_nccl: no host NCCL on
LD_LIBRARY_PATH, NCCL plugins off, async NCCL error handling, faulthandler). When it exits without a status for its
job_id, the agent writes a classified `failed` status (exit code, signal,
log tail). The stage log is uploaded to stages/<stage>/logs/<job_id>.log.
SIGTERM (preemption, shutdown) is forwarded to the stage, which checkpoints
and stops; the agent waits up to 25 s for it, then exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import runs
from .contract import AgentFile, StartFile, StatusFile
from .diagnosis import classify, signal_name
from .lifeline import die_with_parent
from .runs import RunIdInvalid, check_host_id, check_run_id, printable, run_id_problem
from .store import Store, open_store
from .timeutil import now_iso

STOP_GRACE_S = 25.0
# How often a running stage's log is copied to the store, so a hang or a lost host has a recent tail.
LOG_UPLOAD_S = 10.0
LOG_TAIL_LINES = 40


# Where GCP GPU images keep the host's NCCL and its net/tuner plugins; on LD_LIBRARY_PATH
# they shadow the NCCL that torch ships and was built against (docs/design.md, failure 1).
HOST_NCCL_DIRS = ("/usr/local/nvidia/lib64", "/usr/local/gib/lib64")


def sanitise_nccl(env: dict[str, str]) -> dict[str, str]:
    """Drop host NCCL folders from LD_LIBRARY_PATH and turn the NCCL net and tuner plugins off,
    unless FINETUNE_KEEP_HOST_NCCL=1 (multi-node fabrics that need the host plugins)."""
    env = dict(env)
    if env.get("FINETUNE_KEEP_HOST_NCCL") != "1":
        parts = [d for d in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
        kept = [d for d in parts if d.rstrip("/") not in HOST_NCCL_DIRS]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(kept)
        env["FINETUNE_REMOVED_LD_PATHS"] = os.pathsep.join(d for d in parts if d not in kept)
        env["NCCL_NET_PLUGIN"] = "none"
        env["NCCL_TUNER_PLUGIN"] = "none"
    # Loud failures: a broken collective raises instead of hanging; native crashes print a stack.
    env.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    env.setdefault("NCCL_DEBUG", "WARN")
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def stage_env() -> dict[str, str]:
    env = sanitise_nccl(dict(os.environ))
    pkg_root = str(Path(__file__).resolve().parent.parent)  # so the stage imports this same package
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(
        PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1"
    )
    return env


def tail(path: Path, n: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except FileNotFoundError:
        return []


class Agent:
    def __init__(self, store: Store, run_id: str, host_id: str, workdir: Path, poll_s: float, heartbeat_s: float):
        self.store, self.run_id, self.host_id = store, run_id, host_id
        self.workdir = workdir
        self.poll_s, self.heartbeat_s = poll_s, heartbeat_s
        self.started_at = now_iso()
        self.proc: subprocess.Popen | None = None
        self.job: dict | None = None
        self.job_started_at: str | None = None
        self.job_t0 = 0.0
        self.log_path: Path | None = None
        self.stopping = False
        self._last_beat = 0.0
        self._log_uploaded = (0.0, -1)
        self.finished_file = workdir / "finished.json"
        self.finished: set[str] = (
            set(json.loads(self.finished_file.read_text())) if self.finished_file.exists() else set()
        )

    # -- store keys --
    def host_key(self, name: str) -> str:
        return runs.host_key(self.run_id, self.host_id, name)

    def stage_key(self, stage: str, rel: str) -> str:
        return runs.stage_key(self.run_id, stage, rel)

    # -- heartbeat --
    def heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < self.heartbeat_s:
            return
        self._last_beat = now
        running = self.proc is not None
        beat: AgentFile = {
            "host_id": self.host_id,
            "pid": os.getpid(),
            "state": "stopping" if self.stopping else ("running" if running else "idle"),
            "job_id": self.job["job_id"] if running else None,
            "stage": self.job["stage"] if running else None,
            "stage_pid": self.proc.pid if running else None,
            "started_at": self.started_at,
            "job_started_at": self.job_started_at if running else None,
            "updated_at": now_iso(),
        }
        self.store.put_json(self.host_key("agent.json"), beat)

    # -- jobs --
    def should_start(self, job: dict) -> bool:
        job_id = job.get("job_id")
        if not job_id or not isinstance(job_id, str) or job_id in self.finished:
            return False
        problem = job_problem(job)
        if problem:
            # job.json names files and keys: one it cannot name safely is refused, never half-run.
            print(f"agent: refusing job {printable(repr(job_id))}: {problem}", flush=True)
            self._mark_finished(job_id)
            return False
        if self.job is not None and self.job.get("job_id") == job_id:
            return False  # running now
        status = self.store.get_json(self.stage_key(job.get("stage", "?"), "status.json"))
        if status and status.get("job_id") == job_id:
            self._mark_finished(job_id)  # a previous agent ran it to the end
            return False
        return True

    def start(self, job: dict) -> None:
        job_id, stage = job["job_id"], job.get("stage")
        jobs_dir = self.workdir / "jobs"
        jobs_dir.mkdir(parents=True, exist_ok=True)
        job_path = jobs_dir / f"{job_id}.json"
        job_path.write_text(json.dumps(job, indent=2))
        self.job, self.job_started_at, self.job_t0 = job, now_iso(), time.monotonic()
        self.log_path = self.workdir / "logs" / f"{job_id}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Test and bench only: the simulated stage speaks the same contract without torch (sim_stage.py).
        module = (
            "durable_finetune.sim_stage"
            if os.environ.get("FINETUNE_TEST_SIMULATED_STAGES") == "1"
            else f"durable_finetune.stages.{stage}"
        )
        cmd = [
            sys.executable,
            "-X",
            "faulthandler",
            "-m",
            module,
            "--job",
            str(job_path),
            "--store",
            self.store.uri,
            "--workdir",
            str(self.workdir),
        ]
        log = open(self.log_path, "ab")
        log.write(f"[agent {now_iso()}] starting {job_id}: {' '.join(cmd)}\n".encode())
        log.flush()
        # Own process group: a signal to the stage reaches its children (e.g. preflight ranks) too.
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=stage_env(),
            cwd=str(self.workdir),
            preexec_fn=die_with_parent(os.getpid()),
        )
        log.close()
        print(f"agent: started {job_id} (pid {self.proc.pid})", flush=True)
        # One key per process start: the evidence that a job never ran twice (a retried runJob re-attaches).
        record: StartFile = {
            "job_id": job_id,
            "host_id": self.host_id,
            "agent_pid": os.getpid(),
            "stage_pid": self.proc.pid,
            "started_at": self.job_started_at,
        }
        self.store.put_json(self.stage_key(stage, f"starts/{job_id}/{self.host_id}-{self.proc.pid}.json"), record)
        self.heartbeat(force=True)

    def check(self) -> None:
        """If the stage process has exited, record its outcome."""
        if self.proc is None or self.proc.poll() is None:
            return
        rc = self.proc.returncode
        sig = -rc if rc < 0 else None
        exit_code = rc if rc >= 0 else 128 - rc
        status = self.store.get_json(self.stage_key(self.job["stage"], "status.json"))
        log_tail = tail(self.log_path)
        if not status or status.get("job_id") != self.job["job_id"]:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            klass = classify(exit_code, sig, "\n".join(text.splitlines()[-400:]))
            self._write_failed(
                klass,
                f"stage process exited (exit code {exit_code}, signal {signal_name(sig)}) without a status",
                exit_code,
                sig,
            )
        elif status.get("state") == "failed":
            # The stage classified its own failure; add what only the agent knows.
            status.update(exit_code=exit_code, signal=signal_name(sig), log_tail=log_tail)
            self.store.put_json(self.stage_key(self.job["stage"], "status.json"), status)
        self._finish()

    def _write_failed(self, klass: str, message: str, exit_code: int | None, sig: int | None) -> None:
        job = self.job
        status: StatusFile = {
            "job_id": job["job_id"],
            "stage": job["stage"],  # job_problem let no job without a stage start
            "state": "failed",
            "failure_class": klass,
            "message": message,
            "exit_code": exit_code,
            "signal": signal_name(sig),
            "log_tail": tail(self.log_path) if self.log_path else [],
            "output": None,
            "metrics": {},
            "steps_done": None,
            "resumed_from_step": None,
            "started_at": self.job_started_at or now_iso(),  # set when the job started
            "finished_at": now_iso(),
            "duration_s": round(time.monotonic() - self.job_t0, 3),
        }
        self.store.put_json(self.stage_key(job.get("stage", "unknown"), "status.json"), status)

    def _finish(self) -> None:
        job = self.job
        if self.log_path and self.log_path.exists():
            try:
                self.store.put_file(
                    self.stage_key(job.get("stage", "unknown"), f"logs/{job['job_id']}.log"), self.log_path
                )
            except Exception as e:  # noqa: BLE001 - a failed log upload must not lose the status
                print(f"agent: log upload failed: {e}", file=sys.stderr, flush=True)
        self._mark_finished(job["job_id"])
        print(f"agent: finished {job['job_id']}", flush=True)
        self.proc, self.job, self.job_started_at = None, None, None
        self.heartbeat(force=True)

    def _mark_finished(self, job_id: str) -> None:
        self.finished.add(job_id)
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.finished_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.finished)))
        os.replace(tmp, self.finished_file)

    def upload_running_log(self) -> None:
        if self.proc is None or self.log_path is None or not self.log_path.exists():
            return
        now, size = time.monotonic(), self.log_path.stat().st_size
        if now - self._log_uploaded[0] < LOG_UPLOAD_S or size == self._log_uploaded[1]:
            return
        self._log_uploaded = (now, size)
        self.store.put_file(self.stage_key(self.job["stage"], f"logs/{self.job['job_id']}.log"), self.log_path)

    # -- main loop --
    def request_stop(self, signum=None, frame=None) -> None:  # noqa: ARG002
        self.stopping = True
        # Pass the notice on at once, not after the loop's sleep: the stage has ~30 s to commit.
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.heartbeat(force=True)
        print(f"agent: host {self.host_id} run {self.run_id} store {self.store.uri}", flush=True)
        while not self.stopping:
            try:
                self.check()
                if self.proc is None:
                    job = self.store.get_json(self.host_key("job.json"))
                    if job and self.should_start(job):
                        self.start(job)
                self.heartbeat()
                self.upload_running_log()
            except Exception as e:  # noqa: BLE001 - a store hiccup must not kill the agent
                print(f"agent: loop error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            time.sleep(self.poll_s)
        self.shutdown()

    def shutdown(self) -> None:
        self.heartbeat(force=True)
        if self.proc is not None and self.proc.poll() is None:
            print(f"agent: forwarding SIGTERM to stage pid {self.proc.pid}", flush=True)
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_GRACE_S
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                self.heartbeat()
        if self.proc is not None and self.proc.poll() is not None:
            self.check()
        print("agent: exiting", flush=True)


def job_problem(job: dict) -> str | None:
    """Why the agent cannot run this job.json, or None: its job id names a local file and store
    keys, its stage a module and store folder (the worker makes both; the agent checks again)."""
    problem = run_id_problem(job.get("job_id"))
    if problem:
        return f"job_id {problem}"
    if job.get("stage") not in runs.STAGES:
        return f"stage {printable(repr(job.get('stage')))} is not one of {', '.join(runs.STAGES)}"
    return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--workdir", default=None, help="local work folder (default ./.df-agent/<run>/<host>)")
    ap.add_argument("--poll-s", type=float, default=1.0)
    ap.add_argument("--heartbeat-s", type=float, default=5.0)
    a = ap.parse_args(argv)
    try:
        check_run_id(a.run, "--run")
        check_host_id(a.host, "--host")
    except RunIdInvalid as e:
        ap.error(str(e))
    workdir = Path(a.workdir or f".df-agent/{a.run}/{a.host}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    Agent(open_store(a.store), a.run, a.host, workdir, a.poll_s, a.heartbeat_s).run()


if __name__ == "__main__":
    main()
