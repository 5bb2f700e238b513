"""The store spec (test/fixtures/store/spec.json, with the key rules of keys.json) on the trainer's
file:// and gs:// stores (the GCS emulator); test/support/storeSpec.ts runs the same cases on the
control plane's two stores."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from durable_finetune.store import TEMP_NAME, CreateOnlyConflict, StoreKeyInvalid, open_store
from gcs_emulator import emulator_env

FIX = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "store"
SPEC = json.loads((FIX / "spec.json").read_text(encoding="utf-8"))
KEYS = json.loads((FIX / "keys.json").read_text(encoding="utf-8"))
BUCKET = "store-spec"
FAILS = {"key": StoreKeyInvalid, "conflict": CreateOnlyConflict, "source": FileNotFoundError}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with emulator_env(tmp_path_factory.mktemp("gcs"), BUCKET) as url:
        yield url


_stores = 0


@pytest.fixture(params=["file", "gcs"])
def fresh(request, tmp_path):
    """Makes empty stores of one kind: (store, its folder or None on gs://)."""

    def make():
        global _stores
        _stores += 1
        if request.param == "gcs":
            request.getfixturevalue("emulator")
            return open_store(f"gs://{BUCKET}/spec-{_stores}"), None
        folder = tmp_path / f"store-{_stores}"
        return open_store(folder.as_uri()), folder

    return make


def run_step(s: dict, store, folder: Path | None, scratch: Path) -> None:
    if "put" in s:
        if "text" in s:
            store.put_bytes(s["put"], s["text"].encode(), create_only=s.get("create_only", False))
        else:
            store.put_json(s["put"], s["json"], create_only=s.get("create_only", False))
    elif "get" in s:
        if s.get("absent"):
            assert store.get_bytes(s["get"]) is None
        elif "text" in s:
            assert store.get_bytes(s["get"]) == s["text"].encode()
        else:
            assert store.get_json(s["get"]) == s["json"]
    elif "exists" in s:
        assert store.exists(s["exists"]) is s["is"]
    elif "list" in s:
        assert store.list(s["list"]) == s["is"]
    elif "delete" in s:
        store.delete_prefix(s["delete"])
    elif "put_missing_file" in s:
        store.put_file(s["put_missing_file"], scratch / "absent" / "w.safetensors")
    elif s.get("no_temp_files"):
        if folder is not None:
            assert [p for p in folder.rglob("*") if TEMP_NAME.match(p.name)] == []
    else:
        raise AssertionError(f"spec.json: a step with no operation: {s}")


@pytest.mark.parametrize("case", SPEC["cases"], ids=[c["name"][:60] for c in SPEC["cases"]])
def test_case(fresh, case, tmp_path):
    store, folder = fresh()
    for i, s in enumerate(case["steps"], 1):
        where = f"step {i}: {json.dumps(s)}"
        if "fails" in s:
            with pytest.raises(FAILS[s["fails"]]):
                run_step(s, store, folder, tmp_path)
        else:
            try:
                run_step(s, store, folder, tmp_path)
            except AssertionError as e:
                raise AssertionError(f"{where}: {e}") from e


def test_keys_as_keys_json_says(fresh):
    for case in KEYS["good"]:
        store, _ = fresh()
        store.put_json(case["key"], {"key": case["key"]})
        assert store.get_json(case["is"]) == {"key": case["key"]}, case["key"]
        assert store.list("") == [case["is"]], case["key"]
    store, _ = fresh()
    for key in KEYS["bad"]:
        for op in (lambda k: store.put_json(k, 1), store.get_bytes, store.exists):
            with pytest.raises(StoreKeyInvalid):
                op(key)
    for prefix in KEYS["prefixes"]["bad"]:
        for op in (store.list, store.delete_prefix):
            with pytest.raises(StoreKeyInvalid):
                op(prefix)
    assert store.list("") == []


def plant(store, folder: Path | None, key: str, text: str) -> None:
    """Writes `key` past the store's key checks, as another writer would: a half-written temp file
    on file://, a composite-upload part on gs://."""
    if folder is None:
        store.bucket.blob(f"{store.prefix}/{key}").upload_from_string(text)
    else:
        (folder / key).write_text(text)


def test_temp_names_are_hidden_from_list(fresh):
    store, folder = fresh()
    assert TEMP_NAME.pattern == SPEC["temp_files"]["pattern"], "store.py and spec.json name temp files alike"
    beside, hidden, listed = (SPEC["temp_files"][k] for k in ("beside", "hidden", "listed"))
    folder_key = beside.rsplit("/", 1)[0]
    store.put_json(beside, {})
    for name in hidden + listed:
        plant(store, folder, f"{folder_key}/{name}", '{"half":')
    assert store.list("runs/r1") == sorted([*(f"{folder_key}/{n}" for n in listed), beside])


def test_writes_are_whole(fresh):
    store, _ = fresh()
    a = SPEC["atomic"]
    values = [{"i": i, "pad": "x" * n} for i, n in enumerate(a["sizes"])]
    done, bad, reads = threading.Event(), [], [0]

    def read():
        while True:  # at least once: the key is there from the start
            got = store.get_json(a["key"])
            reads[0] += 1
            if got != values[got["i"]]:
                bad.append(got)
            if done.is_set():
                return

    store.put_json(a["key"], values[0])
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for w in range(1, a["writes"]):
            store.put_json(a["key"], values[w % len(values)])
    finally:
        done.set()
        reader.join()
    assert not bad and reads[0] > 0
