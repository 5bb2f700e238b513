import json
import os
from pathlib import Path

import pytest
from durable_finetune.store import StoreKeyInvalid, StoreUriInvalid, check_key, open_store

# What every store does (round trips, list(), create-only, temp files, key rules) is the store
# spec's: test_store_spec.py runs test/fixtures/store/spec.json on both stores.


def test_upload_download_and_delete_prefix(store, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "w.safetensors").write_bytes(b"\x00" * 10)
    (src / "sub" / "c.json").write_text("{}")
    keys = store.upload_dir(src, "runs/r/out")
    assert keys == ["runs/r/out/sub/c.json", "runs/r/out/w.safetensors"]
    dst = tmp_path / "dst"
    store.download_dir("runs/r/out", dst)
    assert (dst / "w.safetensors").read_bytes() == b"\x00" * 10 and (dst / "sub" / "c.json").read_text() == "{}"
    store.delete_prefix("runs/r/out/")
    assert store.list("runs/r/") == []


def test_digest_is_size_and_sha256_streamed_across_chunks(store, tmp_path):
    import hashlib

    from durable_finetune.store import DIGEST_CHUNK

    data = os.urandom(DIGEST_CHUNK + 12345)  # more than one read
    src = tmp_path / "weights.safetensors"
    src.write_bytes(data)
    # put_file's digest comes from the bytes as they went up; digest() reads them back.
    assert store.put_file("ckpt/weights.safetensors", src) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.digest("ckpt/weights.safetensors") == (len(data), hashlib.sha256(data).hexdigest())
    assert store.digest("ckpt/absent.safetensors") is None
    # get_file's digest comes from the bytes as they came down: a restore needs no second read.
    back = tmp_path / "back" / "weights.safetensors"
    assert store.get_file("ckpt/weights.safetensors", back) == (len(data), hashlib.sha256(data).hexdigest())
    assert back.read_bytes() == data
    assert store.get_file("ckpt/absent.safetensors", tmp_path / "back" / "absent") is None


def test_unsupported_uri():
    with pytest.raises(ValueError):
        open_store("s3://bucket")


# The Python half of the store contract's file:// and key rules; test/unit/store-uris.test.ts
# reads the same fixtures, so both stores mean one folder by a URI and refuse the same input.
FIXTURES = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "store"


def _fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_file_uri_names_its_percent_decoded_folder(tmp_path):
    root = str(tmp_path)
    for case in _fixture("uris.json")["means"]:
        uri, folder = (case[k].replace("{root}", root) for k in ("uri", "folder"))
        store = open_store(uri)
        assert str(store.root) == folder, uri
        store.put_json("probe.json", {"uri": uri})
        assert json.loads((Path(folder) / "probe.json").read_text()) == {"uri": uri}
        assert str(open_store(store.uri).root) == folder, f"{uri}: its URI {store.uri} names the same folder"


def test_file_uri_read_two_ways_is_refused_with_the_same_reason(tmp_path):
    root = str(tmp_path)
    for case in _fixture("uris.json")["refused"]:
        uri = case["uri"].replace("{root}", root)
        with pytest.raises(StoreUriInvalid) as e:
            open_store(uri)
        assert case["why"] in str(e.value), uri
    assert list(tmp_path.iterdir()) == [], "a refused URI creates nothing"


def test_keys_accepted_and_refused_as_in_the_typescript_store(store):
    keys = _fixture("keys.json")
    for case in keys["good"]:
        assert check_key(case["key"]) == case["is"]
        store.put_bytes(case["key"].rstrip("/") + "/x", b"1")
        assert (store.root / case["is"] / "x").is_file()
    for key in keys["bad"]:
        with pytest.raises(StoreKeyInvalid):
            check_key(key)
        with pytest.raises(StoreKeyInvalid):
            store.put_bytes(key, b"1")
    with pytest.raises(StoreKeyInvalid):
        store.delete_prefix("")
    for case in keys["prefixes"]["good"]:
        assert check_key(case["prefix"], allow_empty=True) == case["is"]
    for prefix in keys["prefixes"]["bad"]:
        with pytest.raises(StoreKeyInvalid):
            check_key(prefix, allow_empty=True)
        with pytest.raises(StoreKeyInvalid):
            store.list(prefix)
        with pytest.raises(StoreKeyInvalid):
            store.delete_prefix(prefix)
    assert store.list(""), "a refused prefix deleted nothing"


def test_run_ids_and_run_keys_as_in_the_typescript_contract():
    from durable_finetune import runs

    keys = _fixture("keys.json")
    for run_id in keys["run_ids"]["good"]:
        assert runs.check_run_id(run_id) == run_id
    for case in keys["run_ids"]["bad"]:
        with pytest.raises(runs.RunIdInvalid) as e:
            runs.check_run_id(case["id"], "--run")
        assert str(e.value).startswith("--run ") and case["why"] in str(e.value), case
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in str(e.value)), "no control character is echoed"
    for host_id in keys["host_ids"]["good"]:
        assert runs.check_host_id(host_id) == host_id
    for host_id in keys["host_ids"]["bad"]:
        with pytest.raises(runs.RunIdInvalid):
            runs.check_host_id(host_id)
    fns = {"run": runs.run_key, "host": runs.host_key, "stage": runs.stage_key}
    for case in keys["run_keys"]["good"]:
        assert fns[case["fn"]](*case["args"]) == case["is"]
    for case in keys["run_keys"]["bad"]:
        with pytest.raises((runs.RunIdInvalid, StoreKeyInvalid)):
            fns[case["fn"]](*case["args"])


def test_a_job_input_is_read_as_the_control_plane_reads_it(store, tmp_path):
    from durable_finetune.runtime import StageFailure, resolve_input

    assert (
        resolve_input(f"file://{tmp_path}/my%20data/sft.jsonl", store, tmp_path / "cache")
        == f"{tmp_path}/my data/sft.jsonl"
    )
    for bad in ("gs://bucket//abs/sft.jsonl", "gs://bucket/a/../sft.jsonl"):
        with pytest.raises(StageFailure) as e:
            resolve_input(bad, store, tmp_path / "cache")
        assert e.value.failure_class == "bad_data" and "is invalid" in str(e.value), bad


def test_the_agent_works_in_the_folder_the_workers_uri_names(tmp_path):
    """The bug this contract fixes: the worker wrote `my%20store`, the agent used a folder of that name."""
    import subprocess
    import sys
    import time

    uri = f"file://{tmp_path}/my%20store%20%231"  # as the worker's pathToFileURL writes "my store #1"
    (tmp_path / "work").mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_finetune.agent",
            "--store",
            uri,
            "--run",
            "r1",
            "--host",
            "h1",
            "--workdir",
            str(tmp_path / "work"),
            "--poll-s",
            "0.2",
            "--heartbeat-s",
            "1",
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        beat = tmp_path / "my store #1" / "runs" / "r1" / "hosts" / "h1" / "agent.json"
        deadline = time.monotonic() + 30
        while not beat.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert beat.is_file(), f"no heartbeat in {beat.parent} (agent exit code {proc.poll()})"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["my store #1", "work"]
    finally:
        proc.kill()
        proc.wait()


def _strict_json(data: bytes):
    """json.loads as the control plane's JSON.parse reads: NaN and Infinity are not JSON."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


def test_a_diverged_loss_is_written_as_null_not_nan(tmp_path):
    from durable_finetune.progress import Progress

    store = open_store((tmp_path / "store").as_uri())
    key = "runs/r1/stages/sft/progress.json"
    progress = Progress(store, key, "sft-1", "sft", total_steps=10, min_interval_s=0)
    progress.log(3, float("nan"), {"grad_norm": float("inf"), "learning_rate": 1e-4})
    written = _strict_json(store.get_bytes(key))
    assert written["loss"] is None and written["metrics"] == {"grad_norm": None, "learning_rate": 1e-4}
    assert written["history"] == [{"step": 3, "loss": None, "grad_norm": None, "learning_rate": 1e-4}]
    # ...and the file keeps the contract (the autouse schema check reads it after the test).


def test_put_json_writes_non_finite_numbers_as_null_at_any_depth(tmp_path):
    store = open_store((tmp_path / "store").as_uri())
    store.put_json("runs/r1/x.json", {"nested": [1.0, float("-inf"), {"a": float("nan")}]})
    assert _strict_json(store.get_bytes("runs/r1/x.json")) == {"nested": [1.0, None, {"a": None}]}


def test_stored_files_are_readable_by_the_other_side(tmp_path):
    """The worker reads what the agent writes and may be another user: files get 0666 less the
    umask, as the control plane's own writes do (Node's default), not 0600."""
    store = open_store((tmp_path / "store").as_uri())
    src = tmp_path / "weights.safetensors"
    src.write_bytes(b"w" * 10)
    store.put_json("runs/r1/data/meta.json", {"x": 1})
    store.put_file("runs/r1/stages/sft/checkpoints/checkpoint-1/weights.safetensors", src)
    umask = os.umask(0)
    os.umask(umask)
    for key in ("runs/r1/data/meta.json", "runs/r1/stages/sft/checkpoints/checkpoint-1/weights.safetensors"):
        assert (tmp_path / "store" / key).stat().st_mode & 0o777 == 0o666 & ~umask, key
