"""Secret references resolved on the host (the Python side of src/secrets/).

A job carries a reference (`secret:env:WANDB_API_KEY`), never the secret: jobs are
store files, and the store must hold no secret. The host resolves it here, in the
process that uses the value, and nothing here ever prints the value or a text that
is not a reference (it may be a secret pasted into the config by mistake).

    secret:env:<NAME>   an environment variable of the host process (a local host
                        inherits the worker's environment)
"""
from __future__ import annotations

import os
import re

_ENV = re.compile(r"^secret:env:([A-Za-z_][A-Za-z0-9_]{0,127})$")


class SecretUnavailable(Exception):
    """A reference that names no usable secret: unset variable, unsupported form, not a reference."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def resolve_secret(field: str, ref: str, env: dict[str, str] | None = None) -> str:
    """The secret that `ref` (the value of job field `field`) names."""
    env = os.environ if env is None else env
    match = _ENV.match(ref) if isinstance(ref, str) else None
    if not match:
        raise SecretUnavailable(field, "is not a secret reference this host can resolve; write secret:env:<NAME> "
                                       "and set that variable in the host's environment")
    name = match.group(1)
    value = (env.get(name) or "").strip()
    if not value:
        raise SecretUnavailable(field, f"secret:env:{name} names the environment variable {name}, which is "
                                       f"{'not set' if name not in env else 'empty'} on this host; set it where the "
                                       f"agent starts (a local host inherits the worker's environment)")
    return value
