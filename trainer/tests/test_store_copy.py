"""copy_hashed, the file store's copy: the kernel copies while a thread hashes the same pieces.
Checked on sizes around its piece boundary (made small here), on the streamed fallback and on a
copy that fails part way."""

import errno
import hashlib
import os

import pytest
from durable_finetune import store as store_module
from durable_finetune.store import copy_hashed, open_store
from hypothesis import given, settings
from hypothesis import strategies as st

PIECE = 4096


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(store_module, "KERNEL_CHUNK", PIECE)


def _copy(src, dst):
    with open(src, "rb", buffering=0) as s, open(dst, "wb") as d:
        return copy_hashed(s, d)


@settings(max_examples=40, deadline=None)
@given(size=st.one_of(st.sampled_from([0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE]), st.integers(0, 5 * PIECE)))
def test_copy_is_the_bytes_and_their_sha256(tmp_path_factory, size):
    folder = tmp_path_factory.mktemp("copy")
    data = os.urandom(size)
    (folder / "src").write_bytes(data)
    assert _copy(folder / "src", folder / "dst") == (size, hashlib.sha256(data).hexdigest())
    assert (folder / "dst").read_bytes() == data


def test_a_file_the_kernel_cannot_send_is_streamed(tmp_path, monkeypatch):
    data = os.urandom(3 * PIECE + 5)
    (tmp_path / "src").write_bytes(data)

    def refused(*_):
        raise OSError(errno.EINVAL, "sendfile refused")

    monkeypatch.setattr(os, "sendfile", refused)
    assert _copy(tmp_path / "src", tmp_path / "dst") == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "dst").read_bytes() == data


def test_a_copy_failing_part_way_raises_and_the_store_keeps_nothing(tmp_path, monkeypatch):
    data = os.urandom(3 * PIECE)
    (tmp_path / "src").write_bytes(data)
    real, calls = os.sendfile, []

    def full_after_one_piece(*args):
        calls.append(args)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    monkeypatch.setattr(os, "sendfile", full_after_one_piece)
    store = open_store((tmp_path / "store").as_uri())
    with pytest.raises(OSError) as failed:
        store.put_file("runs/r1/ckpt/model.safetensors", tmp_path / "src")
    assert failed.value.errno == errno.ENOSPC  # the disk's error, not a fallback that hid it
    assert store.list("runs/r1") == []
    assert [p.name for p in (tmp_path / "store" / "runs" / "r1" / "ckpt").iterdir()] == []  # no temp file left
