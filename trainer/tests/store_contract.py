"""contract/store.schema.json for the tests: validate a value as one of the store's files, and
find the contract's files in a folder by their keys (conftest checks every test's tmp_path)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "contract" / "store.schema.json"


@cache
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": schema()["$defs"], "$ref": f"#/$defs/{name}"})


def problems(name: str, value) -> list[str]:
    """Why value is not a valid `name` file (contract/store.schema.json `files`); [] when it is."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in _validator(name).iter_errors(value)
    ]


@cache
def _key_patterns() -> list[tuple[str, re.Pattern]]:
    """Each file's key template ('runs/{run_id}/stages/{stage}/status.json') as a regex of a path's end."""
    out = []
    for name, f in schema()["files"].items():
        parts = re.split(r"\{[a-z_]+\}", f["key"])
        out.append((name, re.compile("(?:^|/)" + "[^/]+".join(map(re.escape, parts)) + "$")))
    return out


def file_of(path: str) -> str | None:
    """The contract file a path names by its key ('.../runs/r1/hosts/h1/agent.json' -> 'agent'), or None."""
    for name, pattern in _key_patterns():
        if pattern.search(path):
            return name
    return None


def tree_problems(root: Path, names: set[str]) -> list[str]:
    """Every file under root whose key names one of `names`, checked: 'path: why' per problem."""
    out = []
    for path in sorted(root.rglob("*.json")):
        name = file_of(path.as_posix())
        if name not in names or not path.is_file():
            continue
        try:
            value = json.loads(path.read_text())
        except FileNotFoundError:
            continue  # deleted while the folder was read (a stage dropping old checkpoints)
        except (OSError, ValueError) as e:
            out.append(f"{path}: not JSON ({e})")
            continue
        out += [f"{path} ({name}): {p}" for p in problems(name, value)]
    return out
