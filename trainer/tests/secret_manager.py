"""The fake Secret Manager (test/support/fakeSecretManager.ts) as a process, for the host's
resolver (durable_finetune.secret_refs): the REST protocol the official Python client speaks,
one fake for both languages. Use: `from secret_manager import secret_manager  # noqa: F401`."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import ROOT


class SecretManager:
    """A running fake: put secrets, deny or disable them, read who asked."""

    def __init__(self):
        server = ROOT / "dist" / "test" / "support" / "fakeSecretManagerMain.js"
        assert server.exists(), f"{server} is missing: build the TypeScript first (npm run build)"
        self.proc = subprocess.Popen(
            [str(ROOT / "node_modules" / ".bin" / "node"), str(server)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def _ask(self, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def put(self, project: str, secret: str, value: str) -> str:
        """Adds a version; returns its secret:gcp: reference."""
        return self._ask(put=[project, secret, value])["ref"]

    def deny(self, project: str, secret: str) -> None:
        self._ask(deny=[project, secret])

    def disable(self, project: str, secret: str, version: int) -> None:
        self._ask(disable=[project, secret, version])

    def accesses(self) -> list[dict]:
        return self._ask(accesses=True)["accesses"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def secret_manager():
    sm = SecretManager()
    try:
        yield sm
    finally:
        sm.close()
