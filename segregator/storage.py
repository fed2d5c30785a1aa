"""One storage interface (list, read, copy, delete, ...) and its local-folder backend.

Keys are '/'-separated paths relative to the storage root, as in a bucket. Backends implement a few
primitives; the base class builds duplicate-safe names and copy-verify-delete moves on top of them.
Errors are the OSError family (FileNotFoundError, FileExistsError, PermissionError).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class FolderSummary:
    prefix: str                  # 'images/masterImgs/'
    image_count: int             # images directly in it (counted over the pages read, on buckets)
    samples: tuple[str, ...]     # a few image keys
    complete: bool               # False when a page limit stopped the count


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float = 0.0
    etag: str = ""


PART_SUFFIX = ".segregator-part"  # local copies are written under such hidden names first


def _copy_synced(source: Path, target: Path, mode: str) -> None:
    """Copy a file's bytes and times, synced to disk before returning ('xb': never over an existing file)."""
    with open(source, "rb") as fin, open(target, mode) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(source, target)


def normalise_prefix(prefix: str) -> str:
    """'a/b' -> 'a/b/', '' -> ''; leading slashes dropped."""
    prefix = prefix.strip().lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def numbered_name(key: str, n: int) -> str:
    """'dir/photo.jpg', 1 -> 'dir/photo_1.jpg'."""
    head, tail = posixpath.split(key)
    stem, dot, ext = tail.rpartition(".")
    name = f"{stem}_{n}.{ext}" if dot and stem else f"{tail}_{n}"
    return posixpath.join(head, name) if head else name


class Storage(ABC):
    """A place holding objects under keys. Subclasses implement the abstract primitives."""

    kind = "abstract"

    @property
    @abstractmethod
    def description(self) -> str:
        """A human label, e.g. 'local folder /data/photos' (never a secret)."""

    @property
    def bucket(self) -> str:
        """The bucket name for the session log ('' for local folders)."""
        return ""

    @abstractmethod
    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects under prefix (recursive, or only those directly in the folder), sorted by key."""

    @abstractmethod
    def list_folders(self, prefix: str = "") -> list[str]:
        """Direct subfolders of prefix, as keys ending in '/'."""

    @abstractmethod
    def info(self, key: str) -> ObjectInfo:
        """Size and version of one object; FileNotFoundError when absent."""

    @abstractmethod
    def read(self, key: str) -> bytes: ...

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Create key; FileExistsError when it exists (never overwrite)."""

    @abstractmethod
    def _copy_new(self, src: str, dst: str) -> str | None:
        """Copy src to dst; FileExistsError when dst exists. Returns the copy's ETag when the server says it."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove key; removing a key that is already gone is not an error (as on S3)."""

    def delete_many(self, keys) -> list[tuple[str, str]]:
        """Delete each key; returns (key, error) for those that failed."""
        failed = []
        for key in keys:
            try:
                self.delete(key)
            except OSError as exc:
                failed.append((key, str(exc)))
        return failed

    def quick_scan(self, prefix: str = "", max_pages: int = 3, samples: int = 3) -> list[FolderSummary]:
        """The prefix and its direct subfolders, each with its count of images and a few sample keys."""
        from .loading import is_image_name

        prefix = normalise_prefix(prefix)
        out = []
        for folder in [prefix] + self.list_folders(prefix):
            keys = [o.key for o in self.list(folder, recursive=False) if is_image_name(o.key)]
            out.append(FolderSummary(folder, len(keys), tuple(keys[:samples]), True))
        return out

    read_threads = 1  # parallel reads worth doing (network storages set more)
    move_threads = 1  # parallel plan items worth running
    batch_deletes = False  # delete_many() costs one request per many keys

    def exists(self, key: str) -> bool:
        try:
            self.info(key)
            return True
        except FileNotFoundError:
            return False

    def checksum(self, key: str) -> str:
        """A content hash used to verify copies."""
        return hashlib.md5(self.read(key)).hexdigest()

    def content_id(self, info: ObjectInfo) -> str:
        """What identifies an object's content, recorded in journals: the MD5 here, the ETag on buckets."""
        return self.checksum(info.key)

    def same_content(self, a: ObjectInfo, b: ObjectInfo) -> bool:
        """True when two objects hold the same bytes."""
        return a.size == b.size and self.checksum(a.key) == self.checksum(b.key)

    def copy_verified(self, src: str, dst: str, on_attempt=None, listed: ObjectInfo | None = None) -> ObjectInfo:
        """Copy to dst, or to a numbered name next to it when dst holds something else; returns the copy's
        info. Nothing is ever overwritten (`_copy_new` refuses); a name that already holds the same bytes (an
        earlier attempt of this very copy, cut off before it could be recorded) is taken as the copy.
        `on_attempt(target)` is called before each attempt (the journal's intent). The copy is verified (size
        and content) before this returns. `listed` (size and plain-MD5 ETag from a listing) spares the HEAD
        of the source when the copy's reply carries that very ETag; otherwise the source is looked up."""
        known = listed is not None and listed.etag and "-" not in listed.etag
        source = None if known else self.info(src)
        for n in range(10_000):
            target = dst if n == 0 else numbered_name(dst, n)
            if on_attempt:
                on_attempt(target)
            try:
                etag = self._copy_new(src, target)
            except FileExistsError:
                try:
                    existing = self.info(target)
                except FileNotFoundError:
                    continue
                source = source or self.info(src)
                if self.same_content(source, existing):
                    return existing
                continue
            if source is None:
                if etag == listed.etag:
                    return ObjectInfo(target, listed.size, time.time(), etag)
                source = self.info(src)  # changed since it was listed: check against what it is now
            return self.verify_copy(source, src, target, etag)
        raise FileExistsError(f"no free name near {dst}")

    def copy(self, src: str, dst: str) -> str:
        """copy_verified(), returning the key that holds the copy."""
        return self.copy_verified(src, dst).key

    def verify_copy(self, source: ObjectInfo, src: str, dst: str, etag: str | None = None) -> ObjectInfo:
        copied = self.info(dst)
        if copied.size != source.size or self.checksum(dst) != self.checksum(src):
            raise OSError(f"copy of {src} to {dst} does not match the source; source kept")
        return copied

    def move(self, src: str, dst: str, on_attempt=None, on_copied=None, listed: ObjectInfo | None = None) -> str:
        """Copy, verify, then delete the source; returns the key written. When the copy fails the source is
        not deleted. `on_copied(info)` runs between the verified copy and the delete (the journal)."""
        if src == dst:
            return src
        copied = self.copy_verified(src, dst, on_attempt, listed)
        if on_copied:
            on_copied(copied)
        self.delete(src)
        return copied.key


class LocalStorage(Storage):
    """A folder on disk. Keys may not leave the root, through '..' or symlinks."""

    kind = "local"

    def __init__(self, root: str | os.PathLike):
        path = Path(root).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"folder not found: {path}")
        if not path.is_dir():
            raise NotADirectoryError(f"not a folder: {path}")
        self.root = path.resolve()

    @property
    def description(self) -> str:
        return f"local folder {self.root}"

    def path(self, key: str) -> Path:
        """The file path for key; PermissionError when it would lie outside the root."""
        if key.startswith("/") or "\\" in key or "\x00" in key:
            raise PermissionError(f"refused key outside the folder: {key!r}")
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PermissionError(f"refused key outside the folder: {key!r}")
        target = self.root.joinpath(*parts)
        resolved = target.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise PermissionError(f"refused key outside the folder (symlink): {key!r}")
        return target

    def key_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        base = self.path(normalise_prefix(prefix))
        if not base.is_dir():
            return
        if recursive:
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                here = Path(dirpath)
                for name in sorted(filenames):
                    info = self._info_of(here / name)
                    if info:
                        yield info
        else:
            for entry in sorted(base.iterdir()):
                if entry.is_file():
                    info = self._info_of(entry)
                    if info:
                        yield info

    def _info_of(self, path: Path) -> ObjectInfo | None:
        if path.name.endswith(PART_SUFFIX):
            return None  # a copy in progress, or left by a crash: not an object
        try:
            resolved = path.resolve()
            if self.root not in resolved.parents:
                return None  # symlink leading outside the root: never listed
            st = path.stat()
        except OSError:
            return None
        return ObjectInfo(self.key_of(path), st.st_size, st.st_mtime)

    def list_folders(self, prefix: str = "") -> list[str]:
        base = self.path(normalise_prefix(prefix))
        if not base.is_dir():
            return []
        return [self.key_of(p) + "/" for p in sorted(base.iterdir()) if p.is_dir() and not p.is_symlink()]

    def info(self, key: str) -> ObjectInfo:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(f"not found: {key}")
        st = path.stat()
        return ObjectInfo(key, st.st_size, st.st_mtime)

    def read(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return path.read_bytes()
        except IsADirectoryError:
            raise FileNotFoundError(f"not a file: {key}") from None

    def write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fh:  # 'x': fails when the file exists, so nothing is overwritten
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def _copy_new(self, src: str, dst: str) -> None:
        """The bytes go to a hidden part file beside the target, are synced, then linked to the target name,
        which fails when the name is taken: a copy cut off by a crash never leaves a partial file under the
        target's name (a rerun would otherwise take it for somebody else's file and leave it behind)."""
        source, target = self.path(src), self.path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}{PART_SUFFIX}")
        try:
            _copy_synced(source, part, "wb")
            try:
                os.link(part, target)  # atomic, and never replaces an existing file
            except FileExistsError:
                raise
            except OSError:  # a filesystem without hard links: copy straight to the name, refusing to overwrite
                _copy_synced(part, target, "xb")
        finally:
            part.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path.is_dir():
            raise IsADirectoryError(f"not a file: {key}")
        path.unlink(missing_ok=True)

    def checksum(self, key: str) -> str:
        digest = hashlib.md5()
        with open(self.path(key), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
