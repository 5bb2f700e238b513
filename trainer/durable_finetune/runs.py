"""Run and host ids, and the run's store keys: the rules of src/jobs/runId.ts and
src/jobs/contract.ts, tested by both suites with test/fixtures/store/keys.json.

The run id becomes a store folder (runs/<id>/), an argument of this agent's
command line and a local folder, so the agent checks it again here rather than
trusting the worker: a '/' would nest one run in another's folder, a leading
'-' would read as an option.
"""

from __future__ import annotations

import json
import re
import unicodedata

from .store import StoreKeyInvalid, check_key

RUN_ID_MAX = 128
RUN_ID_RULE = f"a run id is 1-{RUN_ID_MAX} letters, digits and . _ : -, starting with a letter or digit"
_BAD_CHAR = re.compile(r"[^A-Za-z0-9._:-]")
# The stage names of src/jobs/contract.ts StageName.
STAGES = ("preflight", "sft", "merge", "dpo", "generate")


class RunIdInvalid(ValueError):
    def __init__(self, field: str, value: object, reason: str):
        shown = f" {quoted(value)}" if isinstance(value, str) else ""
        super().__init__(f"{field}{shown} is invalid: {reason}; {RUN_ID_RULE}")
        self.field, self.reason = field, reason


def printable(text: str) -> str:
    """text with each control character written as a \\u{...} escape (src/printable.ts)."""
    return "".join(f"\\u{{{ord(c):04x}}}" if _unprintable(c) else c for c in text)


def _unprintable(c: str) -> bool:
    return (
        unicodedata.category(c) == "Cc"
        or c in "\u2028\u2029\u200e\u200f\ufeff"
        or "\u202a" <= c <= "\u202e"
        or "\u2066" <= c <= "\u2069"
    )


def quoted(text: str) -> str:
    return printable(json.dumps(text, ensure_ascii=False))


def run_id_problem(run_id: object) -> str | None:
    """Why run_id is not a usable run id, or None."""
    if not isinstance(run_id, str):
        return f"is {type(run_id).__name__}, not a string"
    if run_id == "":
        return "is empty"
    bad = _BAD_CHAR.search(run_id)
    if bad:
        return f"holds {_describe(bad.group())}"
    if not run_id[0].isascii() or not run_id[0].isalnum():
        first = quoted(run_id[0])
        return f"starts with {first}" + (", which a command line reads as an option" if run_id[0] == "-" else "")
    if len(run_id) > RUN_ID_MAX:
        return f"is {len(run_id)} characters long, more than {RUN_ID_MAX}"
    return None


def check_run_id(run_id: str, field: str = "run id") -> str:
    problem = run_id_problem(run_id)
    if problem:
        raise RunIdInvalid(field, run_id, problem)
    return run_id


def check_host_id(host_id: str, field: str = "host id") -> str:
    """A host id (the worker makes <run id>-h<n>): a store folder and an argument too, so the run id rule holds."""
    return check_run_id(host_id, field)


def run_key(run_id: str, rest: str) -> str:
    """runs/<run id>/<rest>, refused (StoreKeyInvalid) unless a valid store key; a trailing / is kept (a list prefix)."""
    key = f"runs/{check_run_id(run_id)}/{rest}"
    check_key(key)
    return key


def host_key(run_id: str, host_id: str, name: str) -> str:
    return run_key(run_id, f"hosts/{check_host_id(host_id)}/{name}")


def stage_key(run_id: str, stage: str, rest: str) -> str:
    key = run_key(run_id, f"stages/{stage}/{rest}")
    if stage not in STAGES:
        raise StoreKeyInvalid(key, f"stage {quoted(stage)} is not one of {', '.join(STAGES)}")
    return key


def _describe(c: str) -> str:
    code = f"U+{ord(c):04X}"
    if unicodedata.category(c) == "Cc":
        return f"a control character ({code})"
    if c == " ":
        return "a space"
    if c == "/":
        return '"/", which would put the run inside another run\'s folder in the store'
    return f"{quoted(c)} ({code})"
