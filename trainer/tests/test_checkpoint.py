from pathlib import Path

from durable_finetune.checkpoint import commit_checkpoint, download_checkpoint, newest_valid_checkpoint

PREFIX = "runs/r/stages/sft/checkpoints"


def make_ckpt(tmp_path, step):
    d = tmp_path / f"local-{step}"
    d.mkdir()
    (d / "adapter_model.safetensors").write_bytes(bytes([step % 256]) * 100)
    (d / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    return d


def test_commit_writes_manifest_last_with_sizes_and_hashes(store, tmp_path):
    key = commit_checkpoint(store, make_ckpt(tmp_path, 25), PREFIX, 25, "sft-1")
    m = store.get_json(f"{key}/COMMITTED.json")
    assert m["step"] == 25 and m["job_id"] == "sft-1"
    assert {f["path"]: f["size"] for f in m["files"]} == {"adapter_model.safetensors": 100, "trainer_state.json": 19}


def test_newest_valid_skips_and_deletes_uncommitted_and_corrupted(store, tmp_path):
    commit_checkpoint(store, make_ckpt(tmp_path, 25), PREFIX, 25, "sft-1")
    commit_checkpoint(store, make_ckpt(tmp_path, 50), PREFIX, 50, "sft-1")
    # step 75: corrupted after commit (same size, different bytes)
    commit_checkpoint(store, make_ckpt(tmp_path, 75), PREFIX, 75, "sft-1")
    store.put_bytes(f"{PREFIX}/checkpoint-75/adapter_model.safetensors", b"\xff" * 100)
    # step 100: files uploaded but never committed (preempted mid-upload)
    store.upload_dir(make_ckpt(tmp_path, 100), f"{PREFIX}/checkpoint-100")

    assert newest_valid_checkpoint(store, PREFIX) == (50, f"{PREFIX}/checkpoint-50")
    assert store.list(f"{PREFIX}/checkpoint-100/") == []
    assert store.list(f"{PREFIX}/checkpoint-75/") == []
    assert store.list(f"{PREFIX}/checkpoint-25/")  # older valid ones are kept

    local = download_checkpoint(store, f"{PREFIX}/checkpoint-50", tmp_path / "dl")
    assert (local / "adapter_model.safetensors").read_bytes() == bytes([50]) * 100
    assert not (local / "COMMITTED.json").exists()


def test_no_checkpoint(store):
    assert newest_valid_checkpoint(store, PREFIX) is None


def test_older_uncommitted_folders_are_deleted_too(store, tmp_path):
    store.upload_dir(make_ckpt(tmp_path, 10), f"{PREFIX}/checkpoint-10")  # killed mid-upload, long ago
    commit_checkpoint(store, make_ckpt(tmp_path, 20), PREFIX, 20, "sft-2")
    assert newest_valid_checkpoint(store, PREFIX) == (20, f"{PREFIX}/checkpoint-20")
    assert store.list(f"{PREFIX}/checkpoint-10/") == []


def test_test_commit_delay_holds_back_only_the_manifest(store, tmp_path, monkeypatch):
    import threading
    import time

    monkeypatch.setenv("FINETUNE_TEST_COMMIT_DELAY_S", "1.5")
    t = threading.Thread(target=commit_checkpoint, args=(store, make_ckpt(tmp_path, 30), PREFIX, 30, "sft-1"))
    t.start()
    time.sleep(0.7)
    assert store.exists(f"{PREFIX}/checkpoint-30/adapter_model.safetensors")
    assert not store.exists(f"{PREFIX}/checkpoint-30/COMMITTED.json")
    assert newest_valid_checkpoint(store, PREFIX, delete_invalid=False) is None
    t.join()
    assert newest_valid_checkpoint(store, PREFIX) == (30, f"{PREFIX}/checkpoint-30")


def _ctx(store, tmp_path, job_id, resume=True):
    from types import SimpleNamespace

    return SimpleNamespace(
        store=store,
        job_id=job_id,
        resume=resume,
        local_dir=tmp_path / job_id,
        key=lambda rel: f"runs/r/stages/dpo/{rel}",
    )


def test_a_job_resumes_only_checkpoints_of_its_own_lineage(store, tmp_path):
    from durable_finetune.resume import prepare_resume

    dpo_prefix = "runs/r/stages/dpo/checkpoints"
    commit_checkpoint(store, make_ckpt(tmp_path, 10), dpo_prefix, 10, "dpo-1")
    # A later job of the same lineage (a new host, or a rerun of the run id) continues it.
    path, step = prepare_resume(_ctx(store, tmp_path, "dpo-3"))
    assert step == 10 and path is not None
    # The gentler retry's checkpoint is another lineage: the first attempt's tag must not continue it.
    commit_checkpoint(store, make_ckpt(tmp_path, 15), dpo_prefix, 15, "dpo.r2-1")
    assert prepare_resume(_ctx(store, tmp_path, "dpo-4")) == (None, 0)
    assert store.list(dpo_prefix + "/") == [], "the other lineage's checkpoints are dropped"


class _CountedReads:
    """A store that counts each read of a file's bytes (digest or download), by key."""

    def __init__(self, store):
        self.store, self.reads = store, {}

    def __getattr__(self, name):
        return getattr(self.store, name)

    def _count(self, key):
        self.reads[key] = self.reads.get(key, 0) + 1

    def digest(self, key):
        self._count(key)
        return self.store.digest(key)

    def get_file(self, key, local_path):
        self._count(key)
        return self.store.get_file(key, local_path)


def test_a_resume_reads_the_checkpoint_it_resumes_from_once(store, tmp_path):
    from durable_finetune.resume import prepare_resume

    dpo_prefix = "runs/r/stages/dpo/checkpoints"
    for step in (10, 20):
        commit_checkpoint(store, make_ckpt(tmp_path, step), dpo_prefix, step, "dpo-1")
    counted = _CountedReads(store)
    path, step = prepare_resume(_ctx(counted, tmp_path, "dpo-2"))
    assert step == 20
    assert (Path(path) / "adapter_model.safetensors").read_bytes() == bytes([20]) * 100
    assert counted.reads == {
        f"{dpo_prefix}/checkpoint-20/adapter_model.safetensors": 1,
        f"{dpo_prefix}/checkpoint-20/trainer_state.json": 1,
    }, "each file of the checkpoint resumed from is read once (checked as it downloads), older ones not at all"


def test_a_resume_that_finds_the_newest_corrupted_falls_back_and_keeps_no_partial_copy(store, tmp_path):
    from durable_finetune.resume import prepare_resume

    dpo_prefix = "runs/r/stages/dpo/checkpoints"
    for step in (10, 20):
        commit_checkpoint(store, make_ckpt(tmp_path, step), dpo_prefix, step, "dpo-1")
    store.put_bytes(f"{dpo_prefix}/checkpoint-20/trainer_state.json", b"{}")  # corrupted after its commit
    ctx = _ctx(store, tmp_path, "dpo-2")
    path, step = prepare_resume(ctx)
    assert step == 10 and (Path(path) / "adapter_model.safetensors").read_bytes() == bytes([10]) * 100
    assert store.list(f"{dpo_prefix}/checkpoint-20/") == [], "the corrupted checkpoint is deleted"
    assert not (ctx.local_dir / "resume" / "checkpoint-20").exists(), "its partial download is removed"


def _uploads(store, committed):
    from durable_finetune.checkpoint import CheckpointUploads

    return CheckpointUploads(store, PREFIX, "sft-1", committed.append)


def test_background_upload_returns_before_the_commit_and_drain_waits_for_it(store, tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("FINETUNE_TEST_COMMIT_DELAY_S", "0.8")
    committed: list[int] = []
    uploads = _uploads(store, committed)
    started = time.monotonic()
    uploads.submit(make_ckpt(tmp_path, 25), 25)
    assert time.monotonic() - started < 0.5  # training goes on while the checkpoint uploads
    assert committed == [] and not store.exists(f"{PREFIX}/checkpoint-25/COMMITTED.json")
    uploads.drain()
    assert committed == [25]
    assert newest_valid_checkpoint(store, PREFIX) == (25, f"{PREFIX}/checkpoint-25")


def test_one_upload_in_flight_and_commits_in_step_order(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_TEST_COMMIT_DELAY_S", "0.3")
    committed: list[int] = []
    uploads = _uploads(store, committed)
    uploads.submit(make_ckpt(tmp_path, 25), 25)
    uploads.submit(make_ckpt(tmp_path, 50), 50)  # waits for checkpoint-25 to commit first
    assert committed == [25]
    uploads.drain()
    assert committed == [25, 50]


def test_a_failed_upload_is_raised_in_the_training_thread(store, tmp_path):
    import pytest

    committed: list[int] = []
    uploads = _uploads(store, committed)
    uploads.submit(make_ckpt(tmp_path, 25), 25)
    uploads.drain()
    assert committed == [25]

    def broken(*_a, **_k):
        raise OSError("disk gone")

    store.put_file = broken
    uploads.submit(make_ckpt(tmp_path, 50), 50)
    with pytest.raises(OSError, match="disk gone"):
        uploads.drain()
    assert committed == [25] and not store.exists(f"{PREFIX}/checkpoint-50/COMMITTED.json")
    uploads.drain()  # raised once
