"""One storage interface (list, read, write, delete, and the steps of a safe move) and its local-folder backend.

Keys are '/'-separated paths relative to the storage root, as in a bucket. Errors are the OSError family
(FileNotFoundError, FileExistsError, PermissionError).

A move is built from steps the executor (segregator.executor) journals one by one:
  observe(key)            what is there now: size and a version that changes whenever the content does
  prepare / place         make the copy under a new name, never over an existing one
  claim                   after a crash: is the object at a name this run's copy? (proved, never guessed)
  remove_sources          delete sources, each only after its copy and itself were checked right then
  discard                 remove a copy this run made (when its source could not be deleted)
On folders a move within one filesystem is a hard link then an unlink (no byte is copied; the copy is the
source's own inode, which is also the proof of ownership); across filesystems, and for copies, the bytes go
to a hidden part file, are synced, and the part is linked into place.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat as stat_mod
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence


@dataclass(frozen=True)
class FolderSummary:
    prefix: str                  # 'images/masterImgs/'
    image_count: int             # images in it and below (counted over the keys read)
    samples: tuple[str, ...]     # a few image keys, from anywhere below
    complete: bool               # False when the key limit stopped the count (shown with a "+")
    direct_count: int = 0        # of those, the images directly in it


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float = 0.0
    etag: str = ""      # buckets: the ETag ('' on folders)
    version: str = ""   # changes whenever the content does: the ETag on buckets, 'dev:inode:mtime_ns' on folders
    problem: str = ""   # why it cannot be handled as an image file (a symbolic link, ...): its per-file error


PART_SUFFIX = ".segregator-part"  # local copies are written under such hidden names first
NAME_MAX = 255                    # bytes in one path component (local folders)
KEY_MAX = 1024                    # bytes in an object key (buckets)


class SourceChanged(OSError):
    """The source is no longer the object the plan (or the copy) was made from."""


class NoHardLinks(OSError):
    """This filesystem (or this pair of folders) cannot hard-link: copy the bytes instead."""


@dataclass(frozen=True)
class Removal:
    """One source to delete after its copy: `source` as observed before the copy, `copy` as placed."""
    source: ObjectInfo
    copy: ObjectInfo


# Outcomes of remove_sources(), one per Removal:
REMOVED = "removed"              # the source is gone (deleted now, or already gone with the copy in place)
COPY_GONE = "copy_gone"          # the copy is missing or changed: the source was kept (a rerun copies again)
SOURCE_CHANGED = "source_changed"  # the source holds other bytes than were copied: kept, reported
NOT_DELETED = "not_deleted"      # the delete failed (message given): the caller removes the copy


def normalise_prefix(prefix: str) -> str:
    """'a/b' -> 'a/b/', '' -> ''; surrounding spaces and leading slashes dropped."""
    prefix = prefix.strip().lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _trim_utf8(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[:max(0, max_bytes)].decode(errors="ignore")


def numbered_name(key: str, n: int, max_name: int = NAME_MAX) -> str:
    """'dir/photo.jpg', 1 -> 'dir/photo_1.jpg'; the stem is shortened when the name would pass max_name bytes."""
    head, tail = posixpath.split(key)
    stem, dot, ext = tail.rpartition(".")
    if not (dot and stem):
        stem, ext = tail, ""
    suffix = f"_{n}" + (f".{ext}" if ext else "")
    name = _trim_utf8(stem, max_name - len(suffix.encode())) + suffix
    return posixpath.join(head, name) if head else name


def same_object(info: ObjectInfo | None, size: int | None, version: str | None) -> bool:
    """True when `info` is the object with that size and version (None: nothing to compare)."""
    if info is None:
        return False
    return (size is None or info.size == size) and (not version or info.version == version)


class Storage(ABC):
    """A place holding objects under keys. Subclasses implement the abstract primitives."""

    kind = "abstract"
    read_threads = 1   # parallel reads worth doing (network storages set more)
    move_threads = 1   # parallel steps of a move batch worth running
    move_batch = 500   # items journaled and executed together
    max_key_component = NAME_MAX

    @property
    @abstractmethod
    def description(self) -> str:
        """A human label, e.g. 'local folder /data/photos' (never a secret)."""

    @property
    def bucket(self) -> str:
        """The bucket name for the session log ('' for local folders)."""
        return ""

    @abstractmethod
    def record(self) -> dict[str, str]:
        """What names this storage in plans and journals: {'kind': 'local', 'root': ...} or the bucket and
        endpoint host (never a key)."""

    @abstractmethod
    def lock_area(self) -> str:
        """The absolute area keys live in, for run locks: the folder's real path, or 'r2://host/bucket'."""

    def write_problem(self) -> str | None:
        """Why the access in use cannot change this storage (write and delete), or None when it can: asked
        before a move starts, so that a read-only key is told at once rather than half-way (write_access)."""
        return None

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
    def delete(self, key: str) -> None:
        """Remove key; removing a key that is already gone is not an error (as on S3)."""

    # -- the steps of a safe move (see the module docstring) ---------------------------------------------
    def observe(self, key: str) -> ObjectInfo | None:
        """What is at key now (None when nothing is)."""
        try:
            return self.info(key)
        except FileNotFoundError:
            return None

    def fresh_folders(self, folders: Sequence[str]) -> set[str]:
        """Those of the folders that hold nothing yet (no name in them can be taken before the run)."""
        return set()

    def move_method(self, source: ObjectInfo, target: str, copy: bool) -> str:
        """How `place` makes the copy: 'copy' (bytes or a server-side copy) unless a storage can do better."""
        return "copy"

    def prepare(self, source: ObjectInfo, target: str, method: str, part: str, fresh: bool) -> dict:
        """Work before the intent is journaled; returns what the intent must record. FileExistsError when
        the target is known to be taken (then no intent is written for it)."""
        return {}

    @abstractmethod
    def place(self, source: ObjectInfo, target: str, method: str, extra: dict) -> ObjectInfo:
        """Create target from source without overwriting anything; returns the copy as it is now.
        FileExistsError: the name holds something else. SourceChanged: the source is not `source` any more.
        FileNotFoundError: the source is gone."""

    @abstractmethod
    def claim(self, source: ObjectInfo, target: str, method: str, extra: dict) -> ObjectInfo | None:
        """After an interruption between an intent and its outcome: the copy at target when it provably is
        this run's (an earlier attempt of this very intent), None when the name is free. FileExistsError
        when the name holds something else."""

    @abstractmethod
    def remove_sources(self, removals: Sequence[Removal]) -> list[tuple[str, str]]:
        """For each removal, right before deleting: the copy is still what was placed and the source still
        what was copied, else it is kept. Returns (outcome, message) per removal, in order."""

    @abstractmethod
    def discard(self, copy: ObjectInfo) -> bool:
        """Remove a copy this run made, only while it is still exactly that copy; True when removed."""

    def finish_place(self, copy: ObjectInfo, extra: dict) -> None:
        """After the copy is journaled: drop what placing left behind (a part file)."""

    def cleanup(self, folders: Sequence[str], tag: str) -> None:
        """Remove the part files a run (tagged `tag`) left in these folders."""

    def sync_folders(self, keys: Sequence[str]) -> None:
        """Make the creation or removal of these names durable (folders: fsync their directories)."""

    def prune_folders(self, folders: Sequence[str]) -> None:
        """Remove these folders, and their parents, where they are left empty (buckets have no folders)."""

    def is_image_content(self, key: str) -> bool:
        from .loading import sniff_image

        try:
            return sniff_image(self.read(key)[:16])
        except OSError:
            return False

    # -- conveniences built on the primitives -------------------------------------------------------------
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
        """The prefix and its direct subfolders, each with its count of images in it and below (up to
        max_pages x 1,000 keys read per folder: a count that stopped there is marked incomplete), how many of
        those sit directly in it, and a few sample keys from below."""
        prefix = normalise_prefix(prefix)
        return [scan_keys(folder, (o.key for o in self.list(folder, recursive=True)),
                          (o.key for o in self.list(folder, recursive=False)), max_pages * 1000, samples)
                for folder in scan_folders(prefix, self.list_folders(prefix))]

    def exists(self, key: str) -> bool:
        return self.observe(key) is not None

    def observe_many(self, keys: Sequence[str]) -> dict[str, ObjectInfo | None]:
        """observe() of many keys."""
        return {k: self.observe(k) for k in keys}

    def part_files(self, prefix: str = "") -> list[str]:
        """Keys of part files (copies cut off by a crash) under prefix."""
        return []

    def checksum(self, key: str) -> str:
        """The MD5 of an object's bytes."""
        return hashlib.md5(self.read(key)).hexdigest()


def scan_folders(prefix: str, folders: Sequence[str]) -> list[str]:
    """The rows of quick_scan: the prefix and its subfolders, but not the tool's own state (.segregator/)."""
    return [prefix] + [f for f in folders if not f[len(prefix):].startswith(".segregator/")]


def scan_keys(folder: str, keys: Iterable[str], direct_keys: Iterable[str], limit: int, samples: int) -> FolderSummary:
    """quick_scan's row for one folder from the keys under it and those directly in it (as listed), reading
    at most `limit` of each."""
    from .loading import is_image_name

    count = read = 0
    sample: list[str] = []
    complete = True
    for key in keys:
        if read == limit:
            complete = False
            break
        read += 1
        if is_image_name(key):
            count += 1
            if len(sample) < samples:
                sample.append(key)
    direct = sum(1 for key, _ in zip(direct_keys, range(limit)) if is_image_name(key))
    return FolderSummary(folder, count, tuple(sample), complete, direct)


def _version(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalStorage(Storage):
    """A folder on disk. Keys may not leave the root, through '..' or symlinks; symbolic links themselves are
    never moved (their per-file error says so)."""

    kind = "local"
    move_batch = 1000

    def __init__(self, root: str | os.PathLike):
        path = Path(os.path.expanduser(str(root).strip()))
        if not path.exists():
            raise FileNotFoundError(f"folder not found: {path}")
        if not path.is_dir():
            raise NotADirectoryError(f"not a folder: {path}")
        self.root = path.resolve()
        self._links = True  # turns off when the filesystem refuses hard links
        self._folders: dict[str, tuple[Path, float]] = {}

    @property
    def description(self) -> str:
        return f"local folder {self.root}"

    def record(self) -> dict[str, str]:
        return {"kind": "local", "root": str(self.root)}

    def lock_area(self) -> str:
        return str(self.root)

    def write_problem(self) -> str | None:
        if os.access(self.root, os.W_OK | os.X_OK):
            return None
        from .auth import os_user

        return (f"this app (as user {os_user()}) cannot write to {self.root}: analysing, searching and downloading "
                "plans work; moving needs write access to the folder")

    def path(self, key: str) -> Path:
        """The file path for key (its last component is not followed if it is a link); PermissionError when
        it would lie outside the root."""
        if key.startswith("/") or "\\" in key or "\x00" in key:
            raise PermissionError(f"refused key outside the folder: {key!r}")
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PermissionError(f"refused key outside the folder: {key!r}")
        if not parts:
            return self.root
        return self._folder("/".join(parts[:-1]), key) / parts[-1]

    PARENT_TTL = 1.0  # seconds a folder found inside the root is trusted without resolving it again

    def _folder(self, folder: str, key: str) -> Path:
        """The folder's path once its real path was found inside the root (symlinks resolved), remembered for a
        second: a batch of moves resolves each folder once, not once per file."""
        now = time.monotonic()
        hit = self._folders.get(folder)
        if hit is not None and now - hit[1] < self.PARENT_TTL:
            return hit[0]
        path = self.root.joinpath(*folder.split("/")) if folder else self.root
        try:
            resolved = path.resolve()
        except (RuntimeError, OSError):
            raise OSError(errno.ELOOP, f"symbolic link loop in the path of {key!r}") from None
        if resolved != self.root and self.root not in resolved.parents:
            raise PermissionError(f"refused key outside the folder (symlink): {key!r}")
        if len(self._folders) > 4096:
            self._folders.clear()
        self._folders[folder] = (path, now)
        return path

    def key_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        base = self.path(normalise_prefix(prefix))
        if not base.is_dir() or base.is_symlink():
            return
        if recursive:
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                here = Path(dirpath)
                # a symbolic link to a folder is listed as a file entry (never followed)
                links = [d for d in dirnames if (here / d).is_symlink()]
                for name in sorted(filenames + links):
                    info = self._info_of(here / name)
                    if info:
                        yield info
        else:
            for entry in sorted(base.iterdir()):
                if entry.is_symlink() or entry.is_file():
                    info = self._info_of(entry)
                    if info:
                        yield info

    def _info_of(self, path: Path) -> ObjectInfo | None:
        if path.name.endswith(PART_SUFFIX):
            return None  # a copy in progress, or left by a crash: not an object
        try:
            st = os.lstat(path)
        except OSError:
            return None
        key = self.key_of(path)
        if stat_mod.S_ISLNK(st.st_mode):
            return ObjectInfo(key, 0, st.st_mtime, version=_version(st), problem=self._link_problem(path))
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key, st.st_size, st.st_mtime, version=_version(st))

    @staticmethod
    def _link_problem(path: Path) -> str:
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symbolic link loop: left where it is"
            return "broken symbolic link: left where it is"
        return "symbolic link: left where it is (links are never moved; the file it points to is sorted itself)"

    def list_folders(self, prefix: str = "") -> list[str]:
        base = self.path(normalise_prefix(prefix))
        if not base.is_dir():
            return []
        return [self.key_of(p) + "/" for p in sorted(base.iterdir()) if p.is_dir() and not p.is_symlink()]

    def info(self, key: str) -> ObjectInfo:
        info = self.observe(key)
        if info is None:
            raise FileNotFoundError(f"not found: {key}")
        return info

    def observe(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        if stat_mod.S_ISLNK(st.st_mode):
            return ObjectInfo(key, 0, st.st_mtime, version=_version(st), problem=self._link_problem(path))
        if stat_mod.S_ISDIR(st.st_mode):
            return ObjectInfo(key, 0, st.st_mtime, version=_version(st), problem="a folder, not a file")
        return ObjectInfo(key, st.st_size, st.st_mtime, version=_version(st))

    def read(self, key: str) -> bytes:
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except IsADirectoryError:
            raise FileNotFoundError(f"not a file: {key}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, f"symbolic link, not read: {key}") from None
            raise
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fh:  # 'x': fails when the file exists, so nothing is overwritten
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path.is_dir() and not path.is_symlink():
            raise IsADirectoryError(f"not a file: {key}")
        path.unlink(missing_ok=True)

    def checksum(self, key: str) -> str:
        digest = hashlib.md5()
        with open(self.path(key), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    # -- the steps of a move ---------------------------------------------------------------------------------
    def _check_source(self, source: ObjectInfo) -> os.stat_result:
        try:
            st = os.lstat(self.path(source.key))
        except FileNotFoundError:
            raise FileNotFoundError(f"not found: {source.key}") from None
        if _version(st) != source.version or st.st_size != source.size:
            raise SourceChanged(f"{source.key} changed since it was listed")
        return st

    def move_method(self, source: ObjectInfo, target: str, copy: bool) -> str:
        """'link' (a hard link, then the source is unlinked) within one filesystem; 'copy' otherwise."""
        if copy or not self._links:
            return "copy"
        folder = self.path(target).parent
        while not folder.exists() and folder != self.root:
            folder = folder.parent
        try:
            same = os.lstat(self.path(source.key)).st_dev == os.stat(folder).st_dev
        except OSError:
            return "copy"
        return "link" if same else "copy"

    def prepare(self, source: ObjectInfo, target: str, method: str, part: str, fresh: bool) -> dict:
        """'copy': the bytes go to the part file now, synced; the intent records the part's inode, which the
        target gets when the part is linked into place."""
        dst = self.path(target)
        if os.path.lexists(dst):
            raise FileExistsError(f"already exists: {target}")
        if method != "copy":
            return {}
        src = self.path(source.key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        part_path = dst.parent / part
        st = self._check_source(source)
        digest = hashlib.md5()
        with open(src, "rb") as fin, open(part_path, "wb") as fout:
            for block in iter(lambda: fin.read(1 << 20), b""):
                digest.update(block)
                fout.write(block)
            fout.flush()
            os.fsync(fout.fileno())
        os.utime(part_path, ns=(st.st_atime_ns, st.st_mtime_ns))
        self._check_source(source)  # unchanged while it was read
        part_st = os.lstat(part_path)
        return {"part": part, "part_ino": part_st.st_ino, "md5": digest.hexdigest()}

    def place(self, source: ObjectInfo, target: str, method: str, extra: dict) -> ObjectInfo:
        dst = self.path(target)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if method == "link":
            st = self._check_source(source)
            try:
                os.link(self.path(source.key), dst, follow_symlinks=False)
            except FileExistsError:
                raise
            except OSError as exc:
                if exc.errno in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    self._links = exc.errno == errno.EXDEV  # EXDEV: only this pair of folders
                    raise NoHardLinks(exc.errno, f"cannot hard-link {source.key}") from None
                raise
            linked = os.lstat(dst)
            if linked.st_ino != st.st_ino or linked.st_dev != st.st_dev:
                os.unlink(dst)  # the source was swapped between the check and the link: not ours to keep
                raise SourceChanged(f"{source.key} changed while it was moved")
            return ObjectInfo(target, linked.st_size, linked.st_mtime, version=_version(linked))
        part_path = dst.parent / extra["part"]
        part_st = os.lstat(part_path)
        if part_st.st_ino != extra["part_ino"]:
            raise OSError(f"the part file for {target} was changed by someone else")
        os.link(part_path, dst, follow_symlinks=False)  # FileExistsError when the name is taken
        placed = os.lstat(dst)
        return ObjectInfo(target, placed.st_size, placed.st_mtime, version=_version(placed))

    def claim(self, source: ObjectInfo, target: str, method: str, extra: dict) -> ObjectInfo | None:
        """Ownership by inode: a linked move's target is the source's inode; a copy's target is its part
        file's inode (recorded in the intent). Identical bytes alone never make a name ours."""
        try:
            st = os.lstat(self.path(target))
        except FileNotFoundError:
            return None
        if method == "link":
            ours = source.version.split(":")[:2] == [str(st.st_dev), str(st.st_ino)]
        else:
            ours = st.st_ino == extra.get("part_ino")
        if not ours or not stat_mod.S_ISREG(st.st_mode):
            raise FileExistsError(f"already exists: {target}")
        return ObjectInfo(target, st.st_size, st.st_mtime, version=_version(st))

    def finish_place(self, copy: ObjectInfo, extra: dict) -> None:
        if extra.get("part"):
            (self.path(copy.key).parent / extra["part"]).unlink(missing_ok=True)

    def remove_sources(self, removals: Sequence[Removal]) -> list[tuple[str, str]]:
        out = []
        for r in removals:
            try:
                now_copy = self.observe(r.copy.key)
                if not same_object(now_copy, r.copy.size, r.copy.version):
                    out.append((COPY_GONE, f"the copy {r.copy.key} was removed or changed before the source "
                                           f"could be deleted: the source was kept"))
                    continue
                now_source = self.observe(r.source.key)
                if now_source is None:
                    out.append((REMOVED, ""))
                    continue
                if not same_object(now_source, r.source.size, r.source.version):
                    out.append((SOURCE_CHANGED, f"{r.source.key} changed after it was copied: it was left where "
                                                f"it is, and the copy of the earlier version is at {r.copy.key}"))
                    continue
                os.unlink(self.path(r.source.key))
                out.append((REMOVED, ""))
            except OSError as exc:
                out.append((NOT_DELETED, exc.strerror or str(exc)))
        return out

    def discard(self, copy: ObjectInfo) -> bool:
        try:
            if same_object(self.observe(copy.key), copy.size, copy.version):
                os.unlink(self.path(copy.key))
                return True
        except OSError:
            pass
        return False

    def sync_folders(self, keys: Sequence[str]) -> None:
        for folder in sorted({posixpath.dirname(k) for k in keys}):
            try:
                _fsync_dir(self.path(folder + "/" if folder else ""))
            except OSError:
                pass

    def prune_folders(self, folders: Sequence[str]) -> None:
        for folder in sorted(set(folders), key=len, reverse=True):
            try:
                path = self.path(normalise_prefix(folder))
            except OSError:
                continue
            while path != self.root and self.root in path.parents:
                try:
                    path.rmdir()  # only when empty
                except OSError:
                    break
                path = path.parent

    def cleanup(self, folders: Sequence[str], tag: str) -> None:
        """This run's part files, and part files of any run that are over a day old (left by crashes)."""
        old = time.time() - 86400
        for folder in folders:
            try:
                base = self.path(normalise_prefix(folder))
                for part in base.glob(f".*{PART_SUFFIX}"):
                    if part.name.endswith(f".{tag}{PART_SUFFIX}") or os.lstat(part).st_mtime < old:
                        part.unlink(missing_ok=True)
            except OSError:
                pass

    def part_files(self, prefix: str = "") -> list[str]:
        base = self.path(normalise_prefix(prefix))
        out = []
        for dirpath, _dirs, files in os.walk(base):
            out.extend(self.key_of(Path(dirpath) / f) for f in files if f.endswith(PART_SUFFIX))
        return sorted(out)

    def is_image_content(self, key: str) -> bool:
        from .loading import sniff_image

        try:
            fd = os.open(self.path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        with os.fdopen(fd, "rb") as fh:
            return sniff_image(fh.read(16))


_ACCESS: dict[tuple, tuple[float, str | None]] = {}
ACCESS_MAX_AGE = 60.0  # a probe's answer is reused this long (seconds) for the same storage and key


def write_access(storage: Storage, max_age: float = ACCESS_MAX_AGE) -> str | None:
    """storage.write_problem(), remembered for `max_age` seconds per storage (a page asks on every rerun)."""
    key = (storage.kind, storage.lock_area(), getattr(getattr(storage, "config", None), "access_key", ""))
    now = time.monotonic()
    hit = _ACCESS.get(key)
    if hit is not None and now - hit[0] < max_age:
        return hit[1]
    problem = storage.write_problem()
    _ACCESS[key] = (now, problem)
    return problem


class WriteDenied(PermissionError):
    """The key or account in use cannot change this storage."""


def require_write(storage: Storage) -> None:
    """WriteDenied (with what works and what to change) when the storage cannot be changed: checked afresh,
    before a run takes its lock, so a read-only key stops a move before anything is written."""
    problem = write_access(storage, max_age=0)
    if problem:
        raise WriteDenied(f"Not started: {problem}")
