"""Commit checkpoints to the store atomically and find the newest valid one.

A checkpoint is `<prefix>/checkpoint-<step>/`; it exists only once its
COMMITTED.json (step, files with size and sha256) is written, and that file is
written last. A folder without it, or whose files do not match it, is a
half-written or corrupted leftover (a preempted upload): never resumed from,
and deleted when found.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeGuard

from .contract import CommittedEntry, CommittedFile
from .store import Store
from .timeutil import now_iso

_STEP = re.compile(r"checkpoint-(\d+)$")
COMMITTED = "COMMITTED.json"


def commit_checkpoint(store: Store, local_dir: str | Path, prefix: str, step: int, job_id: str) -> str:
    """Upload local_dir to <prefix>/checkpoint-<step>/, then COMMITTED.json last; returns the key."""
    local_dir = Path(local_dir)
    key = f"{prefix.rstrip('/')}/checkpoint-{step}"
    started = time.monotonic()
    files: list[CommittedEntry] = []
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(local_dir).as_posix()
        if rel == COMMITTED:
            continue
        size, sha256 = store.put_file(f"{key}/{rel}", path)
        files.append({"path": rel, "size": size, "sha256": sha256})
    _test_commit_delay(key)
    manifest: CommittedFile = {
        "step": step,
        "job_id": job_id,
        "committed_at": now_iso(),
        "upload_seconds": round(time.monotonic() - started, 3),
        "files": files,
    }
    store.put_json(f"{key}/{COMMITTED}", manifest)
    return key


class CheckpointUploads:
    """Commits checkpoints in a background thread while training goes on.

    An upload held the GPU idle: a 400 MB adapter-and-optimizer checkpoint at
    100 MB/s every 25 steps of 6 s is 2.6% of a run's GPU time spent waiting.
    Here `submit` returns as soon as the upload has started; at most one is in
    flight (`submit` first waits for the previous one), so a host holds at most
    two uncommitted local checkpoints and commits stay in step order. The
    local folder is the Trainer's own checkpoint-<step>, which it neither
    rewrites nor deletes (save_total_limit is None). `drain` waits for the
    upload in flight: a stage calls it before it reports an end, and the
    SIGTERM path before it exits, so a notice commits the checkpoint in flight
    and then the stopping one. A failed upload is raised by the next `submit`
    or `drain`, in the training thread. A hard kill mid-upload loses at most
    that checkpoint: the previous one is committed (COMMITTED.json last).
    """

    def __init__(self, store: Store, prefix: str, job_id: str, on_committed: Callable[[int], None]):
        self.store, self.prefix, self.job_id = store, prefix, job_id
        self.on_committed = on_committed
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, local_dir: str | Path, step: int) -> None:
        self.drain()
        self._thread = threading.Thread(target=self._commit, args=(Path(local_dir), step), name=f"checkpoint-{step}")
        self._thread.start()

    def drain(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _commit(self, local_dir: Path, step: int) -> None:
        try:
            commit_checkpoint(self.store, local_dir, self.prefix, step, self.job_id)
            self.on_committed(step)
        except BaseException as e:  # noqa: BLE001 - re-raised in the training thread by drain
            self._error = e


def _test_commit_delay(key: str) -> None:
    """FINETUNE_TEST_COMMIT_DELAY_S holds a checkpoint between its files and its COMMITTED.json,
    so fault tests can kill a host in the middle of an upload. Tests only."""
    delay = float(os.environ.get("FINETUNE_TEST_COMMIT_DELAY_S") or 0)
    if delay > 0:
        print(
            f"{key}: files uploaded, COMMITTED.json in {delay} s (FINETUNE_TEST_COMMIT_DELAY_S)",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(delay)


def _listed(manifest: dict | None) -> TypeGuard[dict]:
    return manifest is not None and isinstance(manifest.get("files"), list)


def verified_in_store(store: Store, key: str, manifest: dict) -> bool:
    """Whether every file a manifest lists is in the store at its size and sha256, read where it lies."""
    # Streamed: a full-model checkpoint need not fit in memory to be verified.
    return all(store.digest(f"{key}/{f['path']}") == (f["size"], f["sha256"]) for f in manifest["files"])


def checkpoint_steps(store: Store, prefix: str) -> dict[int, str]:
    """All checkpoint folders under prefix (committed or not): step -> key."""
    out = {}
    base = prefix.rstrip("/") + "/"
    for k in store.list(base):
        folder = k[len(base) :].split("/", 1)[0]
        m = _STEP.match(folder)
        if m:
            out[int(m.group(1))] = base + folder
    return out


def newest_valid_checkpoint(
    store: Store,
    prefix: str,
    delete_invalid: bool = True,
    verify: Callable[[int, str, dict], bool] | None = None,
) -> tuple[int, str] | None:
    """(step, key) of the newest committed checkpoint whose files verify, or None.

    Invalid folders met on the way (newer than the one returned) are deleted
    so that nothing can resume from them later; so are older folders without a
    COMMITTED.json (older committed ones are kept unverified: reading them costs).
    `verify(step, key, manifest)` replaces the check that reads every file in the
    store: a resume passes one that downloads as it checks (fetch_verified), so the
    checkpoint it resumes from is read once, not twice.
    """
    verify = verify or (lambda _step, key, manifest: verified_in_store(store, key, manifest))
    found = None
    for step, key in sorted(checkpoint_steps(store, prefix).items(), reverse=True):
        manifest = store.get_json(f"{key}/{COMMITTED}")
        if found is None and _listed(manifest) and verify(step, key, manifest):
            found = step, key
            continue
        if found is not None and manifest:
            continue
        print(
            f"checkpoint {key} is {'corrupted' if manifest else 'uncommitted'}: "
            f"{'deleting it' if delete_invalid else 'skipping it'}",
            file=sys.stderr,
            flush=True,
        )
        if delete_invalid:
            store.delete_prefix(key + "/")
    return found


def fetch_verified(store: Store, key: str, manifest: dict, local_dir: str | Path) -> str | None:
    """Download the files a manifest lists into local_dir, each checked against its size and
    sha256 as it comes (the store hashes while it writes). None when all match; otherwise
    what did not, with the partial copy removed."""
    local_dir = Path(local_dir)
    for f in manifest["files"]:
        got = store.get_file(f"{key}/{f['path']}", local_dir / f["path"])
        if got == (f["size"], f["sha256"]):
            continue
        shutil.rmtree(local_dir, ignore_errors=True)
        if got is None:
            return f"{key}/{f['path']} is listed in COMMITTED.json but gone from the store"
        return f"{key}/{f['path']} changed while it was downloaded: size or sha256 differ from COMMITTED.json"
    return None


def download_checkpoint(store: Store, key: str, local_dir: str | Path) -> Path:
    """Download the files a COMMITTED.json lists (not the manifest) into local_dir, and check
    the local copies against it: what the Trainer resumes from is what was committed."""
    manifest = store.get_json(f"{key}/{COMMITTED}")
    if manifest is None:
        raise FileNotFoundError(f"{key}/{COMMITTED} is not in the store {store.uri}: the checkpoint is not committed")
    problem = fetch_verified(store, key, manifest, local_dir)
    if problem:
        raise RuntimeError(problem)
    return Path(local_dir)
