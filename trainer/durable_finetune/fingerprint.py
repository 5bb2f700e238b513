"""The weights fingerprint of the store contract.

`sha256:` + hex sha256 of the text made of one line
`<relative path>\t<sha256 of the file>\n` per weight file (*.safetensors,
*.bin other than training_args.bin; *.pt excluded), sorted by path.
Stages compare it to prove they start from the weights the previous stage made.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_weight_file(rel_path: str) -> bool:
    name = rel_path.rsplit("/", 1)[-1]
    if name.endswith(".safetensors"):
        return True
    return name.endswith(".bin") and name != "training_args.bin"


def fingerprint_dir(folder: str | Path) -> str:
    folder = Path(folder)
    rels = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    lines = "".join(f"{rel}\t{file_sha256(folder / rel)}\n" for rel in rels if is_weight_file(rel))
    if not lines:
        raise ValueError(f"no weight files in {folder}")
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
