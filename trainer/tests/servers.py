"""Local servers the tests start (MLflow, the GCS emulator): a free loopback port, and the
wait until one answers. Plain functions, so benches outside pytest use them too."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_serving(url: str, proc: subprocess.Popen, seconds: float, what: str) -> None:
    """Returns once GET `url` answers; RuntimeError when `proc` exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer {url} within {seconds:.0f} s") from None
            time.sleep(0.1)
