"""Complete job params for tests, as the control plane would send them.

The defaults come from contract/stage-params.schema.json (generated from the config schema,
src/config/stageParams.ts), never written again here: a test names only what it changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[2] / "contract" / "stage-params.schema.json"


def stage_schemas() -> dict[str, dict]:
    return json.loads(SCHEMA.read_text())["stages"]


def defaults(schema: dict) -> dict[str, Any]:
    """Every property's default; an object without one of its own gets its properties' defaults."""
    out = {}
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop:
            out[name] = prop["default"]
        elif prop.get("type") == "object" and "properties" in prop and name in schema.get("required", []):
            out[name] = defaults(prop)
    return out


def job_params(stage: str, **overrides: Any) -> dict[str, Any]:
    """The params of a `stage` job: the config's defaults, then `overrides` (an object such as
    `lora` is merged into its defaults). Knobs without a default (preflight expected_gpus,
    generate models) must be given."""
    out = defaults(stage_schemas()[stage])
    for name, value in overrides.items():
        out[name] = {**out[name], **value} if isinstance(value, dict) and isinstance(out.get(name), dict) else value
    return out
