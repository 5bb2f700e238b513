"""The store: the only channel between the control plane and this host.

Keys are '/'-separated and relative to the store root. `get_bytes`/`get_json`
return None when the key is absent (absence is a normal answer here: no job
yet, no status yet), never raise for it.

file://  an absolute folder; JSON writes go to a temp file then rename, so a
         reader never sees half a file.
gs://    bucket/prefix via google-cloud-storage (honours STORAGE_EMULATOR_HOST);
         one object write is already atomic; `create_only=True` adds the
         if_generation_match=0 precondition.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .fingerprint import file_sha256

# Read size when streaming an object through sha256.
DIGEST_CHUNK = 8 << 20


class CreateOnlyConflict(Exception):
    """A create-only write found the key already there."""


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


class Store:
    uri: str

    def put_bytes(self, key: str, data: bytes, create_only: bool = False) -> None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def put_file(self, key: str, local_path: str | Path) -> None: ...
    def get_file(self, key: str, local_path: str | Path) -> bool: ...

    def put_json(self, key: str, obj: Any, create_only: bool = False) -> None:
        self.put_bytes(key, _dumps(obj), create_only=create_only)

    def get_json(self, key: str) -> Any | None:
        data = self.get_bytes(key)
        return None if data is None else json.loads(data)

    def digest(self, key: str) -> tuple[int, str] | None:
        """(size, sha256 hex) of an object, or None when it is absent. Stores stream it:
        a checkpoint of a full model must verify without fitting in memory."""
        data = self.get_bytes(key)
        return None if data is None else (len(data), hashlib.sha256(data).hexdigest())

    def upload_dir(self, local_dir: str | Path, key_prefix: str) -> list[str]:
        """Upload every file under local_dir; returns the keys written."""
        local_dir = Path(local_dir)
        keys = []
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            key = f"{key_prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
            self.put_file(key, path)
            keys.append(key)
        return keys

    def download_dir(self, key_prefix: str, local_dir: str | Path) -> list[Path]:
        """Download every key under key_prefix into local_dir; returns local paths."""
        prefix = key_prefix.rstrip("/") + "/"
        out = []
        for key in self.list(prefix):
            dest = Path(local_dir) / key[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.get_file(key, dest)
            out.append(dest)
        return out


class FileStore(Store):
    def __init__(self, root: str):
        self.root = Path(root)
        self.uri = "file://" + str(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        key = key.lstrip("/")
        if ".." in key.split("/"):
            raise ValueError(f"bad key {key!r}")
        return self.root / key

    def put_bytes(self, key: str, data: bytes, create_only: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if create_only:
                # link() fails if the target exists: an atomic create-only.
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise CreateOnlyConflict(key) from None
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def put_file(self, key: str, local_path: str | Path) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        os.close(fd)
        shutil.copyfile(local_path, tmp)
        os.replace(tmp, path)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def digest(self, key: str) -> tuple[int, str] | None:
        path = self._path(key)
        try:
            return path.stat().st_size, file_sha256(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def get_file(self, key: str, local_path: str | Path) -> bool:
        src = self._path(key)
        if not src.is_file():
            return False
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local_path)
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        # A prefix may end mid-name ("stages/sft/check"); list its parent folder then filter.
        folder = base if prefix.endswith("/") or not prefix else base.parent
        if not folder.is_dir():
            return []
        keys = []
        for p in folder.rglob("*"):
            if p.is_file() and not p.name.startswith(".tmp-"):
                key = p.relative_to(self.root).as_posix()
                if key.startswith(prefix.lstrip("/")):
                    keys.append(key)
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list(prefix):
            try:
                self._path(key).unlink()
            except FileNotFoundError:
                pass
        base = self._path(prefix)
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)


class GcsStore(Store):
    """Every write is a whole-object upload (atomic on GCS), retried on transient
    errors even without a precondition: rewriting the same bytes is harmless.
    Files over 8 MB go up as resumable uploads (the client's own switch), and
    folders move with `parallelism` transfers at a time."""

    def __init__(self, bucket: str, prefix: str, parallelism: int = 8):
        from google.cloud import storage  # imported lazily: file:// needs no GCS client

        if os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(credentials=AnonymousCredentials(), project=os.environ.get("GOOGLE_CLOUD_PROJECT", "test"))
        else:
            client = storage.Client()
        self.bucket = client.bucket(bucket)
        self.prefix = prefix.strip("/")
        self.parallelism = parallelism
        self.uri = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"

    def _name(self, key: str) -> str:
        key = key.lstrip("/")
        if ".." in key.split("/"):
            raise ValueError(f"bad key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes, create_only: bool = False) -> None:
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.blob(self._name(key))
        try:
            blob.upload_from_string(data, if_generation_match=0 if create_only else None, retry=DEFAULT_RETRY)
        except PreconditionFailed:
            # A retried create whose first try landed finds its own bytes: that is success.
            if self.get_bytes(key) == data:
                return
            raise CreateOnlyConflict(key) from None

    def put_file(self, key: str, local_path: str | Path) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket.blob(self._name(key)).upload_from_filename(str(local_path), retry=DEFAULT_RETRY)

    def get_bytes(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.bucket.blob(self._name(key)).download_as_bytes()
        except NotFound:
            return None

    def digest(self, key: str) -> tuple[int, str] | None:
        from google.api_core.exceptions import NotFound

        h, size = hashlib.sha256(), 0
        try:
            with self.bucket.blob(self._name(key)).open("rb", chunk_size=DIGEST_CHUNK) as f:
                for chunk in iter(lambda: f.read(DIGEST_CHUNK), b""):
                    h.update(chunk)
                    size += len(chunk)
        except NotFound:
            return None
        return size, h.hexdigest()

    def get_file(self, key: str, local_path: str | Path) -> bool:
        from google.api_core.exceptions import NotFound

        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.bucket.blob(self._name(key)).download_to_filename(str(local_path))
            return True
        except NotFound:
            return False

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()

    def list(self, prefix: str) -> list[str]:
        full = self._name(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[strip:] for b in self.bucket.list_blobs(prefix=full))

    def delete_prefix(self, prefix: str) -> None:
        from google.api_core.exceptions import NotFound

        def delete(blob) -> None:
            try:
                blob.delete()
            except NotFound:
                pass

        self._parallel(delete, list(self.bucket.list_blobs(prefix=self._name(prefix))))

    def upload_dir(self, local_dir: str | Path, key_prefix: str) -> list[str]:
        local_dir = Path(local_dir)
        pairs = [(f"{key_prefix.rstrip('/')}/{p.relative_to(local_dir).as_posix()}", p)
                 for p in sorted(p for p in local_dir.rglob("*") if p.is_file())]
        self._parallel(lambda kp: self.put_file(*kp), pairs)
        return [k for k, _ in pairs]

    def download_dir(self, key_prefix: str, local_dir: str | Path) -> list[Path]:
        prefix = key_prefix.rstrip("/") + "/"
        pairs = [(key, Path(local_dir) / key[len(prefix):]) for key in self.list(prefix)]
        self._parallel(lambda kp: self.get_file(*kp), pairs)
        return [dest for _, dest in pairs]

    def _parallel(self, fn, items: list) -> None:
        """Runs fn over items, `parallelism` at a time; the first error is raised after all finish."""
        from concurrent.futures import ThreadPoolExecutor

        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(items))) as pool:
            for future in [pool.submit(fn, item) for item in items]:
                future.result()


def open_store(uri: str) -> Store:
    if uri.startswith("file://"):
        return FileStore(uri[len("file://"):])
    if uri.startswith("gs://"):
        bucket, _, prefix = uri[len("gs://"):].partition("/")
        return GcsStore(bucket, prefix)
    raise ValueError(f"unsupported store URI {uri!r} (use file:///abs/path or gs://bucket/prefix)")
