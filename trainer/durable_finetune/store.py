"""The store: the only channel between the control plane and this host.

Keys are '/'-separated and relative to the store root. `get_bytes`/`get_json`
return None when the key is absent (absence is a normal answer here: no job
yet, no status yet), never raise for it.

file://  an absolute folder; every write goes to a temp file in the key's folder, then a
         rename, so a reader never sees half a file. The URI's path is percent-decoded the way
         the control plane's WHATWG URL reads it (file_uri_path); a URI the two could
         read apart is refused, and so is a key the TypeScript stores refuse.
gs://    bucket/prefix via google-cloud-storage (honours STORAGE_EMULATOR_HOST);
         one object write is already atomic; `create_only=True` adds the
         if_generation_match=0 precondition.

Both stores keep the rules of the TypeScript ones (src/store/), checked by one spec for all four
(test/fixtures/store/spec.json, trainer/tests/test_store_spec.py): list() takes its prefix as a
folder, create-only finding the same bytes is a retry that succeeds, delete_prefix removes the
key it names and every key under it, and temp names (TEMP_NAME) never show in list().
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import math
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .fingerprint import file_sha256

# Read size when streaming an object through sha256.
DIGEST_CHUNK = 8 << 20
# Parallel composite uploads to gs:// (GcsStore.put_file): above this size a file goes up in parts.
COMPOSITE_MIN_BYTES = 64 << 20
COMPOSITE_PART_MIN_BYTES = 32 << 20
COMPOSE_MAX_PARTS = 32  # what one compose request accepts
COMPOSITE_MEMORY_BYTES = 1 << 30
# Pieces of a streamed copy (stream_chunks): 1 MiB copied and hashed about 3x faster here than 8 MiB.
STREAM_CHUNK = 1 << 20


def _send(src, dst, offset: int, n: int) -> bool:
    """sendfile of n bytes of src from offset to dst's position; False when the kernel cannot
    send between these files at all (only ever on the first piece)."""
    sent = 0
    while sent < n:
        try:
            got = os.sendfile(dst.fileno(), src.fileno(), offset + sent, n - sent)
        except OSError as err:
            if offset + sent == 0 and err.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                return False
            raise
        if got == 0:
            raise OSError(errno.EIO, f"the source ended at byte {offset + sent} while it was copied")
        sent += got
    return True


def stream_chunks(src, sink) -> tuple[int, str]:
    """Reads src once into two STREAM_CHUNK buffers in turn, handing each piece to sink while it
    is hashed on a second thread (hashlib and file I/O release the GIL); returns (size, sha256
    hex). Reused buffers: allocating a fresh piece per read made the copy several times slower."""
    from concurrent.futures import ThreadPoolExecutor

    h, size = hashlib.sha256(), 0
    buffers, i = (bytearray(STREAM_CHUNK), bytearray(STREAM_CHUNK)), 0
    with ThreadPoolExecutor(max_workers=1) as hasher:
        hashing = None
        while n := src.readinto(buffers[i]):
            piece = memoryview(buffers[i])[:n]
            if hashing is not None:
                hashing.result()  # the other buffer is free again before the next read fills it
            hashing = hasher.submit(h.update, piece)
            sink(piece)
            size += n
            i ^= 1
        if hashing is not None:
            hashing.result()
    return size, h.hexdigest()


# Pieces of a kernel copy (copy_hashed).
KERNEL_CHUNK = 8 << 20


def copy_hashed(src, dst) -> tuple[int, str]:
    """Copies the regular file src to dst (both open, binary, dst at its start); returns (size,
    sha256 hex) of the bytes copied, in one pass: the kernel copies each KERNEL_CHUNK (sendfile,
    no trip through this process) while a second thread hashes the same piece, read into one of
    two reused buffers. sha256 is then the bound (about 1.7 GB/s a core here): on this project's
    2-core machine a 1 GB copy ran at 1.6 GB/s, against 0.5-0.8 GB/s for stream_chunks and
    1.35 GB/s for hashing through a map of src (its page faults cost more than the read).
    A file the kernel cannot send from (not a regular file) is streamed instead."""
    from concurrent.futures import ThreadPoolExecutor

    size = os.fstat(src.fileno()).st_size
    h = hashlib.sha256()
    buffers, i = (bytearray(min(KERNEL_CHUNK, size)), bytearray(min(KERNEL_CHUNK, size))), 0
    with ThreadPoolExecutor(max_workers=1) as hasher:
        hashing = None
        try:
            for offset in range(0, size, KERNEL_CHUNK):
                n = min(KERNEL_CHUNK, size - offset)
                piece = memoryview(buffers[i])[:n]
                # Read while the previous piece (the other buffer) is still being hashed.
                if os.preadv(src.fileno(), [piece], offset) != n:
                    raise OSError(
                        errno.EIO, f"{src.name}: ended before byte {offset + n} of {size} while it was copied"
                    )
                if hashing is not None:
                    hashing.result()
                hashing = hasher.submit(h.update, piece)
                if not _send(src, dst, offset, n):
                    hashing.result()
                    src.seek(0)  # the first piece: nothing sent yet, so the file is streamed instead
                    return stream_chunks(src, dst.write)
                i ^= 1
        finally:
            if hashing is not None:
                hashing.result()
    return size, h.hexdigest()


class _HashingWriter:
    """A writable file that hashes what passes through it (a download's sink)."""

    def __init__(self, dst):
        self.dst, self.sha256, self.size = dst, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.dst.write(data)


class CreateOnlyConflict(Exception):
    """A create-only write found the key already there."""


class StoreUriInvalid(ValueError):
    """A store URI this store cannot read the way the control plane does."""

    def __init__(self, uri: str, reason: str):
        super().__init__(f"store URI {uri!r} {reason}")
        self.uri, self.reason = uri, reason


class StoreKeyInvalid(ValueError):
    """A key that climbs out of the store root, is absolute or is empty (src/store/keys.ts)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"store key {key!r} is invalid: {reason}")
        self.key, self.reason = key, reason


# The temp files of writes in flight (file://) and the parts of a composite upload (gs://):
# .<name, cut to 64 characters>.tmp-<pid>-<8 hex>, as src/store/temp.ts names them. list() hides
# the form whichever side writes it, and no key may take it, so list() shows every key there is.
TEMP_NAME = re.compile(r"^\..+\.tmp-\d+-[0-9a-f]{8}$")


def temp_name(name: str) -> str:
    """A fresh temp name for a file named `name` (cut so it fits 255 bytes when `name` does)."""
    return f".{name[:64]}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _is_temp(key: str) -> bool:
    return bool(TEMP_NAME.match(key.rsplit("/", 1)[-1]))


# A folder or file name on Linux filesystems, and a GCS object name, at most (bytes of UTF-8).
MAX_SEGMENT_BYTES = 255
MAX_KEY_BYTES = 1024


def check_key(key: str, allow_empty: bool = False) -> str:
    """The key without trailing slashes, or StoreKeyInvalid: the rules of normaliseKey in src/store/keys.ts.
    Only '' itself is the empty prefix (allow_empty): '/' names the root too, but as if it were absolute."""
    if not isinstance(key, str):
        raise StoreKeyInvalid(str(key), f"it is a {type(key).__name__}, not a string")
    if key == "" and allow_empty:
        return ""
    trimmed = key.rstrip("/")
    if trimmed == "":
        raise StoreKeyInvalid(
            key, "it is empty" if key == "" else "it names the store root itself; write a key relative to it"
        )
    try:
        size = len(trimmed.encode("utf-8"))
    except UnicodeEncodeError:
        raise StoreKeyInvalid(key, "it is not valid Unicode (a lone surrogate)") from None
    control = _CONTROL_ANY.search(trimmed)
    if control:
        raise StoreKeyInvalid(key, f"it holds a control character (U+{ord(control.group()):04X})")
    if size > MAX_KEY_BYTES:
        raise StoreKeyInvalid(key, f"it is longer than {MAX_KEY_BYTES} bytes")
    if trimmed.startswith("/"):
        raise StoreKeyInvalid(key, "keys are relative to the store root; drop the leading /")
    if "\\" in trimmed:
        raise StoreKeyInvalid(key, "use / as the separator")
    for part in trimmed.split("/"):
        if part in ("", ".", ".."):
            raise StoreKeyInvalid(key, f"segment {part!r} is not allowed")
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise StoreKeyInvalid(key, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
        if TEMP_NAME.match(part):
            raise StoreKeyInvalid(
                key,
                f"segment {part!r} has the form of a store temp file (.<name>.tmp-<pid>-<8 hex>), which list() hides",
            )
    return trimmed


# Unicode's Cc: C0, DEL and C1 (\p{Cc} in src/store/keys.ts).
_CONTROL_ANY = re.compile("[\x00-\x1f\x7f-\x9f]")


_CONTROL = re.compile("[\x00-\x1f\x7f]")
_BAD_ESCAPE = re.compile("%(?![0-9a-fA-F]{2})")
_DRIVE = re.compile("^[A-Za-z][:|]$")


def file_uri_problem(uri: str) -> str | None:
    """Why uri is not a usable file:// URI, or None: the checks of src/store/fileUri.ts, in the same order."""
    if not uri.startswith("file://"):
        return "is not a file:// URI; write file:///absolute/path"
    rest = uri[len("file://") :]
    if not rest.startswith("/"):
        host = rest.split("/")[0]
        return (
            "names no path; write file:///absolute/path"
            if host == ""
            else f'names the host "{host}"; a file:// URI names a folder on this machine: '
            "write file:///absolute/path (three slashes, no host)"
        )
    if uri.endswith(" "):
        return "ends with a space, which URL parsers drop; remove it, or write a trailing space as %20"
    if _CONTROL.search(uri):
        return "holds a control character (tab, newline, ...); remove it"
    if "\\" in uri:
        return (
            "holds a backslash, which URL parsers read as /; write / between folders, or %5C for a backslash in a name"
        )
    if "?" in rest or "#" in rest:
        return (
            "holds ? or #, which start a URL query or fragment, not part of a folder name; "
            "write them as %3F and %23, or give the folder as a plain path"
        )
    if _BAD_ESCAPE.search(rest):
        return "holds a % that does not start a %XX escape; write a literal % as %25"
    segments = [] if rest == "/" else rest[1:].split("/")
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()  # a trailing slash
    if segments and _DRIVE.match(segments[0]):
        return "starts with a Windows drive letter, which URL parsers rewrite; name a folder on this machine"
    for segment in segments:
        if segment == "":
            return "has an empty folder name (//); write single slashes"
        if "%2f" in segment.lower():
            return "holds %2F, an encoded / inside a name, which Node refuses; write / between folders"
        try:
            name = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            return f'holds percent-escapes in "{segment}" that are not UTF-8; encode names as UTF-8 (e.g. %C3%A9 for é)'
        if _CONTROL.search(name):
            return f'decodes to a control character in "{segment}"; remove it'
        if name in (".", ".."):
            return (
                f'has a "{segment}" segment, which URL parsers resolve but a store path must not; '
                "write the absolute path without . or .."
            )
    return None


def file_uri_path(uri: str) -> str:
    """The absolute folder a file:/// URI names: the path of urlsplit, percent-decoded as UTF-8."""
    problem = file_uri_problem(uri)
    if problem:
        raise StoreUriInvalid(uri, problem)
    return str(Path(unquote(urlsplit(uri).path, errors="strict")))


def _finite(obj: Any) -> Any:
    """obj with NaN and the infinities as None. json.dumps writes them as NaN and Infinity, which
    no JSON parser of the control plane reads: one diverged loss in progress.json made every read
    of it fail, and the job's watcher with it. null is the contract's word for them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _dumps(obj: Any) -> bytes:
    # allow_nan=False: a non-finite number that _finite missed (a numpy scalar) fails here, not in a reader.
    return (json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False) + "\n").encode()


class Store:
    uri: str

    def put_bytes(self, key: str, data: bytes, create_only: bool = False) -> None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def put_file(self, key: str, local_path: str | Path) -> tuple[int, str]:
        """Upload a local file; returns its (size, sha256 hex), computed from the bytes as they
        went up (one read of the file: a checkpoint's manifest costs no second pass)."""
        ...

    def get_file(self, key: str, local_path: str | Path) -> tuple[int, str] | None:
        """Download an object to a local file; returns its (size, sha256 hex), computed from the
        bytes as they came (a restore verifies without a second read), or None when it is absent."""
        ...

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

    def upload_dir(self, local_dir: str | Path, key_prefix: str) -> builtins.list[str]:
        """Upload every file under local_dir; returns the keys written."""
        local_dir = Path(local_dir)
        keys = []
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            key = f"{key_prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
            self.put_file(key, path)
            keys.append(key)
        return keys

    def download_dir(self, key_prefix: str, local_dir: str | Path) -> builtins.list[Path]:
        """Download every key under key_prefix into local_dir; returns local paths."""
        prefix = key_prefix.rstrip("/") + "/"
        out = []
        for key in self.list(prefix):
            dest = Path(local_dir) / check_key(key[len(prefix) :])  # a listed name stays inside local_dir
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.get_file(key, dest)
            out.append(dest)
        return out


class FileStore(Store):
    def __init__(self, root: str):
        self.root = Path(root)
        # as_uri percent-encodes, so the URI reads back (here and in TypeScript) as this folder.
        self.uri = self.root.as_uri()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str, allow_empty: bool = False) -> Path:
        return self.root / check_key(key, allow_empty)

    def _temp_file(self, path: Path) -> tuple[int, Path]:
        """A new temp file beside path (TEMP_NAME), open for writing: (fd, its path)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = path.parent / temp_name(path.name)
            try:
                # 0666 less the umask, as the control plane's writes (src/store/file.ts): a stored
                # file is read by the other side, which may run as another user (the agent in a
                # container as uid 1000, the worker as itself); stores hold no secrets.
                return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
            except FileExistsError:
                continue

    def put_bytes(self, key: str, data: bytes, create_only: bool = False) -> None:
        path = self._path(key)
        fd, tmp = self._temp_file(path)
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
                    # The same bytes there already: a retried write, which succeeds (as on gs://).
                    if self.get_bytes(key) != data:
                        raise CreateOnlyConflict(key) from None
            else:
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # a failed write leaves nothing behind

    def put_file(self, key: str, local_path: str | Path) -> tuple[int, str]:
        path = self._path(key)
        with open(local_path, "rb", buffering=0) as src:  # an unreadable source fails before any temp file
            fd, tmp = self._temp_file(path)
            try:
                with os.fdopen(fd, "wb") as dst:
                    digest = copy_hashed(src, dst)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)  # a failed copy leaves nothing behind
        return digest

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

    def get_file(self, key: str, local_path: str | Path) -> tuple[int, str] | None:
        src = self._path(key)
        if not src.is_file():
            return None
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb", buffering=0) as f, open(local_path, "wb") as dst:
            return copy_hashed(f, dst)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        """Every key under prefix taken as a folder ('runs/r1' lists runs/r1/..., never
        runs/r10/...), sorted; temp files hidden. The empty prefix lists the whole store."""
        folder = self._path(prefix, allow_empty=True)
        if not folder.is_dir():
            return []
        keys = []
        for p in folder.rglob("*"):
            if p.is_file() and not TEMP_NAME.match(p.name):
                keys.append(p.relative_to(self.root).as_posix())
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        """The key prefix names and every key under it. The empty prefix is refused: the whole
        store is never one stage's business."""
        base = self._path(prefix)
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        else:
            try:
                base.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass


class GcsStore(Store):
    """Every write is a whole-object upload (atomic on GCS), retried on transient
    errors even without a precondition: rewriting the same bytes is harmless.
    Files over 8 MB go up as resumable uploads (the client's own switch), and
    folders move with `parallelism` transfers at a time."""

    def __init__(self, bucket: str, prefix: str, parallelism: int = 8):
        from google.cloud import storage  # imported lazily: file:// needs no GCS client

        if os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(
                credentials=AnonymousCredentials(), project=os.environ.get("GOOGLE_CLOUD_PROJECT", "test")
            )
        else:
            client = storage.Client()
        self.bucket = client.bucket(bucket)
        self.prefix = prefix.strip("/")
        self.parallelism = parallelism
        self.uri = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"

    def _name(self, key: str, allow_empty: bool = False) -> str:
        key = check_key(key, allow_empty)
        return f"{self.prefix}/{key}" if self.prefix and key else (self.prefix or key)

    def _folder(self, prefix: str, allow_empty: bool = False) -> str:
        """The object-name prefix of the keys under prefix taken as a folder ('' for all)."""
        name = self._name(prefix, allow_empty)
        return f"{name}/" if name else ""

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

    def put_file(self, key: str, local_path: str | Path) -> tuple[int, str]:
        """A file up to COMPOSITE_MIN_BYTES is one upload of bytes read once. A bigger one goes up
        as parts, `parallelism` at a time, each a whole object, then one compose makes the object
        (a parallel composite upload: what gsutil and gcloud storage do for big files); the
        parts are deleted after, and on failure."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        name = self._name(key)
        size = os.path.getsize(local_path)
        if size <= COMPOSITE_MIN_BYTES:
            data = Path(local_path).read_bytes()
            self.bucket.blob(name).upload_from_string(data, retry=DEFAULT_RETRY)
            return len(data), hashlib.sha256(data).hexdigest()
        return self._put_composite(name, local_path, size)

    def _put_composite(self, name: str, local_path: str | Path, size: int) -> tuple[int, str]:
        from concurrent.futures import ThreadPoolExecutor

        from google.cloud.storage.retry import DEFAULT_RETRY

        # At most COMPOSE_MAX_PARTS parts (one compose call), and at most COMPOSITE_MEMORY_BYTES
        # of parts in memory at once.
        part_bytes = max(COMPOSITE_PART_MIN_BYTES, -(-size // COMPOSE_MAX_PARTS))
        in_flight = max(1, min(self.parallelism, COMPOSITE_MEMORY_BYTES // part_bytes))
        parts: list = []
        h, total = hashlib.sha256(), 0
        # Each part has a temp name (TEMP_NAME) beside the object: list() never shows one, even
        # one left behind.
        folder, base = name[: name.rfind("/") + 1], name[name.rfind("/") + 1 :]
        try:
            with open(local_path, "rb") as src, ThreadPoolExecutor(max_workers=in_flight) as pool:
                pending: list = []
                while chunk := src.read(part_bytes):
                    part = self.bucket.blob(f"{folder}{temp_name(f'{base}.part-{len(parts):03d}')}")
                    parts.append(part)
                    if len(pending) >= in_flight:
                        pending.pop(0).result()
                    pending.append(pool.submit(part.upload_from_string, chunk, retry=DEFAULT_RETRY))
                    h.update(chunk)  # hashed while the part uploads: no second read of the file
                    total += len(chunk)
                for future in pending:
                    future.result()
            self.bucket.blob(name).compose(parts, retry=DEFAULT_RETRY)
        finally:
            for part in parts:
                try:
                    part.delete()
                except Exception:  # noqa: BLE001 - a part left behind is only garbage, never read
                    pass
        return total, h.hexdigest()

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

    def get_file(self, key: str, local_path: str | Path) -> tuple[int, str] | None:
        from google.api_core.exceptions import NotFound

        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(local_path, "wb") as dst:
                sink = _HashingWriter(dst)
                # The client writes each downloaded piece once, resuming a retried download where
                # it stopped, so the digest covers the object's bytes exactly once.
                self.bucket.blob(self._name(key)).download_to_file(sink)
            return sink.size, sink.sha256.hexdigest()
        except NotFound:
            Path(local_path).unlink(missing_ok=True)
            return None

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()

    def list(self, prefix: str) -> list[str]:
        """Every key under prefix taken as a folder, sorted; temp names (composite parts) hidden."""
        strip = len(self.prefix) + 1 if self.prefix else 0
        names = (b.name for b in self.bucket.list_blobs(prefix=self._folder(prefix, allow_empty=True)))
        return sorted(n[strip:] for n in names if not _is_temp(n))

    def delete_prefix(self, prefix: str) -> None:
        from google.api_core.exceptions import NotFound

        def delete(blob) -> None:
            try:
                blob.delete()
            except NotFound:
                pass

        # The key prefix names and every key under it; _name refuses the empty prefix: the whole
        # store is never one stage's business.
        name = self._name(prefix)
        self._parallel(delete, [self.bucket.blob(name), *self.bucket.list_blobs(prefix=f"{name}/")])

    def upload_dir(self, local_dir: str | Path, key_prefix: str) -> builtins.list[str]:
        local_dir = Path(local_dir)
        pairs = [
            (f"{key_prefix.rstrip('/')}/{p.relative_to(local_dir).as_posix()}", p)
            for p in sorted(p for p in local_dir.rglob("*") if p.is_file())
        ]
        self._parallel(lambda kp: self.put_file(*kp), pairs)
        return [k for k, _ in pairs]

    def download_dir(self, key_prefix: str, local_dir: str | Path) -> builtins.list[Path]:
        prefix = key_prefix.rstrip("/") + "/"
        # A bucket may hold any object name ('a/../../x'): each is checked, so none lands outside local_dir.
        pairs = [(key, Path(local_dir) / check_key(key[len(prefix) :])) for key in self.list(prefix)]
        self._parallel(lambda kp: self.get_file(*kp), pairs)
        return [dest for _, dest in pairs]

    def _parallel(self, fn, items: builtins.list) -> None:
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
    if uri.startswith("file:"):
        return FileStore(file_uri_path(uri))
    if uri.startswith("gs://"):
        bucket, _, prefix = uri[len("gs://") :].partition("/")
        return GcsStore(bucket, prefix)
    raise ValueError(f"unsupported store URI {uri!r} (use file:///abs/path or gs://bucket/prefix)")
