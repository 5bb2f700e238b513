"""The local Hub (test/support/hubServer.ts) speaks the protocol the official Python
client expects: huggingface_hub downloads the tiny model through it and classifies its
errors as it does on huggingface.co. And a host loads an hf: model only from the store
(hub/models/<org>/<name>/<commit>/, valid only with its COMMITTED.json), never the Hub."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from durable_finetune.runtime import StageFailure, resolve_input
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

TINY = ROOT / "examples" / "tiny" / "model"
SERVER = ROOT / "dist" / "test" / "support" / "hubServerMain.js"


@pytest.fixture(scope="module")
def hub():
    assert SERVER.exists(), f"{SERVER} is missing: build the TypeScript first (npm run build)"
    proc = subprocess.Popen(
        [str(ROOT / "node_modules" / ".bin" / "node"), str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def online(monkeypatch):
    # The agent runs stages with HF_HUB_OFFLINE=1; this test is the client, talking to 127.0.0.1.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_snapshot_download_gets_the_tiny_model_at_the_commit_main_names(hub, tmp_path):
    path = Path(snapshot_download("tiny-org/tiny-llama", cache_dir=tmp_path, endpoint=hub["url"]))
    assert path.name == hub["commits"]["main"]
    for f in TINY.iterdir():
        assert (path / f.name).read_bytes() == f.read_bytes(), f.name
    assert (path / "README.md").exists() and (path / "onnx" / "model.onnx").exists()


def test_a_tag_resolves_to_its_commit_and_file_metadata_matches_the_tree(hub, tmp_path):
    path = Path(
        hf_hub_download("tiny-org/tiny-llama", "config.json", revision="v1", cache_dir=tmp_path, endpoint=hub["url"])
    )
    assert path.parent.name == hub["commits"]["v1"]
    api = HfApi(endpoint=hub["url"])
    assert api.model_info("tiny-org/tiny-llama").sha == hub["commits"]["main"]
    weights = {f.path: f for f in api.list_repo_tree("tiny-org/tiny-llama", revision="v1", recursive=True)}[
        "model.safetensors"
    ]
    assert weights.lfs.sha256 == hashlib.sha256((TINY / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "repo, filename, revision, token, error",
    [
        ("tiny-org/no-such-model", "config.json", None, None, RepositoryNotFoundError),
        ("tiny-org/private-llama", "config.json", None, None, RepositoryNotFoundError),
        ("tiny-org/private-llama", "config.json", None, "stranger", RepositoryNotFoundError),
        ("tiny-org/tiny-llama", "config.json", "no-such-branch", None, RevisionNotFoundError),
        ("tiny-org/tiny-llama", "no-such-file.json", None, None, RemoteEntryNotFoundError),
        ("tiny-org/gated-llama", "config.json", None, None, GatedRepoError),
        ("tiny-org/gated-llama", "config.json", None, "stranger", GatedRepoError),
    ],
)
def test_errors_are_classified_as_the_hub_s_own(hub, tmp_path, repo, filename, revision, token, error):
    with pytest.raises(error):
        hf_hub_download(
            repo,
            filename,
            revision=revision,
            cache_dir=tmp_path,
            endpoint=hub["url"],
            token=hub["tokens"][token] if token else False,
        )


def test_a_gated_model_downloads_with_a_token_granted_access(hub, tmp_path):
    path = Path(
        snapshot_download(
            "tiny-org/gated-llama", cache_dir=tmp_path, endpoint=hub["url"], token=hub["tokens"]["reader"]
        )
    )
    assert (path / "model.safetensors").read_bytes() == (TINY / "model.safetensors").read_bytes()


def _publish(store, key: str) -> None:
    """What the worker's fetch leaves in the store: the files, then COMMITTED.json."""
    files = []
    for f in sorted(TINY.iterdir()):
        store.put_file(f"{key}/{f.name}", f)
        files.append({"path": f.name, "size": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
    store.put_json(
        f"{key}/COMMITTED.json", {"repo": "tiny-org/tiny-llama", "commit": key.rsplit("/", 1)[1], "files": files}
    )


def test_a_host_loads_a_hub_model_from_the_store_and_checks_it(store, tmp_path):
    key = f"hub/models/tiny-org/tiny-llama/{'a' * 40}"
    _publish(store, key)
    local = Path(resolve_input(key, store, tmp_path / "cache"))
    assert sorted(p.name for p in local.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in TINY.iterdir()
    )
    assert (local / "model.safetensors").read_bytes() == (TINY / "model.safetensors").read_bytes()

    corrupt = f"hub/models/tiny-org/tiny-llama/{'b' * 40}"
    _publish(store, corrupt)
    store.put_bytes(f"{corrupt}/config.json", b"{}")
    with pytest.raises(RuntimeError, match="config.json changed while it was downloaded"):
        resolve_input(corrupt, store, tmp_path / "cache")


def test_a_hub_model_without_committed_json_does_not_exist_and_hf_inputs_are_refused(store, tmp_path):
    key = f"hub/models/tiny-org/tiny-llama/{'c' * 40}"
    store.put_file(f"{key}/config.json", TINY / "config.json")
    with pytest.raises(StageFailure, match="has no COMMITTED.json"):
        resolve_input(key, store, tmp_path / "cache")
    with pytest.raises(StageFailure, match="hosts load models only from the store"):
        resolve_input("hf:tiny-org/tiny-llama", store, tmp_path / "cache")
