"""The analysis every job starts with: list a source's images and analyse them, a chunk at a time, through
the analysis cache."""

from __future__ import annotations

from pathlib import Path

import dataclasses
from typing import Callable, Iterator, Sequence

import numpy as np

from ..analysis import AnalysisResult, ProgressCallback, iter_image_objects
from ..loading import load_image
from ..runs import TRASH
from ..settings import Settings
from ..similarity import Reference
from ..storage import ObjectInfo, Storage, normalise_prefix


def load_reference(data: bytes, settings: Settings = Settings()) -> Reference:
    """A reference image (its bytes) prepared for search; ImageLoadError when unreadable."""
    loaded = load_image(data, settings.loader.working_size, settings.loader.max_pixels)
    reference = Reference.from_image(loaded.image, settings.similarity.thumb_size)
    if settings.similarity.min_embedding_similarity > 0:
        from .. import learned

        if not learned.available():
            raise ValueError("matching by embeddings needs onnxruntime and the image model file")
        reference = dataclasses.replace(reference, embedding=learned.run_image(loaded.image)[1].astype(np.float32))
    return reference


def analyse_source(storage: Storage, prefix: str = "", *args, **kwargs) -> list[AnalysisResult]:
    """List the images under prefix (skipping the trash) and analyse them all: iter_analysis() (same
    arguments) as a list. Results of objects unchanged since an earlier pass with the same settings come
    from the analysis cache unless cache=False."""
    return list(iter_analysis(storage, prefix, *args, **kwargs))


CHUNK = 1000  # objects looked up in the cache, analysed and cached together


def iter_analysis(
    storage: Storage,
    prefix: str = "",
    settings: Settings = Settings(),
    recursive: bool = True,
    examples: Sequence[Reference] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    placeholders: bool = True,
    cache: bool = True,
    listing: Callable[[int], None] | None = None,
    cluster=None,
) -> Iterator[AnalysisResult]:
    """analyse_source() as a stream, in listing order: a chunk at a time is analysed, so a caller that keeps
    only what it needs of each result (a plan item) holds memory flat however large the folder or bucket.
    `cluster`: where the analysis runs (compute.open_executor: None is this machine's pool of `workers`
    processes, or SEGREGATOR_DASK_SCHEDULER when that is set; 'local:N' or a Dask scheduler's address), or an
    Executor."""
    from ..compute import Executor, open_executor

    settings = checked_settings(settings)
    executor = cluster if isinstance(cluster, Executor) else open_executor(cluster, workers)
    listed = _Spool(iter_image_objects(storage, prefix, recursive, exclude=[TRASH, normalise_prefix(prefix) + TRASH,
                                                                       *_own_folders(storage),
                                                                       *_examples_folder(storage, settings)],
                                              listing=listing))
    total = listed.count
    if progress:
        progress(0, total)
    store = sid = digest = None
    if cache and total:
        from ..cache import AnalysisCache, settings_digest, storage_id

        store, sid = AnalysisCache(), storage_id(storage)
        digest = settings_digest(settings, examples, placeholders)
    done = 0
    for chunk in listed.chunks(max(CHUNK, executor.chunk) if total else CHUNK):
        for o in (o for o in chunk if o.problem):  # symbolic links: listed with their reason, never read
            yield AnalysisResult(key=o.key, size=o.size, error=o.problem)
        chunk = [o for o in chunk if not o.problem]
        done += listed.last_chunk - len(chunk)
        hits = store.get_many(sid, chunk, digest) if store else {}
        misses = [o for o in chunk if o.key not in hits]
        base = done + len(hits)

        def shifted(n: int, _total: int, base=base) -> None:
            if progress and n:
                progress(base + n, total)

        fresh = executor.analyse(storage, misses, settings, examples, placeholders, shifted) if misses else []
        if store and misses:
            store.put_many(sid, zip(misses, fresh), digest)
        done += len(chunk)
        if progress:
            progress(done, total)
        by_key = {**hits, **{o.key: r for o, r in zip(misses, fresh)}}
        del hits, fresh
        for o in chunk:
            r = by_key.pop(o.key)
            if not r.skipped:
                yield _with_version(r, o)


class _Spool:
    """A listing kept in a temporary file instead of memory (a million objects would be ~250 MB of Python
    objects): counted once, then read back a chunk at a time."""

    def __init__(self, objects):
        import json
        import tempfile

        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.count = 0
        self.last_chunk = 0
        for o in objects:
            self._file.write(json.dumps([o.key, o.size, o.mtime, o.etag, o.version, o.problem]) + "\n")
            self.count += 1
        self._file.seek(0)

    def chunks(self, size: int):
        import json

        try:
            chunk: list[ObjectInfo] = []
            for line in self._file:
                chunk.append(ObjectInfo(*json.loads(line)))
                if len(chunk) >= size:
                    self.last_chunk = len(chunk)
                    yield chunk
                    chunk = []
            if chunk:
                self.last_chunk = len(chunk)
                yield chunk
        finally:
            self._file.close()


def checked_settings(settings: Settings) -> Settings:
    """Settings with the classifier backend resolved ("auto") and checked before any image is read:
    ValueError, with what to do, when the model or a taught classifier cannot be used."""
    import os

    from .. import learned

    backend = settings.classifier.backend
    if backend == "auto":
        backend = "learned" if learned.available() else "heuristic"
    elif backend == "learned" and not learned.available():
        raise ValueError("the learned classifier needs onnxruntime and segregator/models/efficientnet_lite0.onnx "
                         "(use --classifier heuristic without them)")
    elif backend not in ("heuristic", "learned"):
        backend = os.path.abspath(backend)
        learned.TaughtModel.load(backend)  # ValueError when it is not a taught classifier
        if not learned.available():
            raise ValueError("a taught classifier needs onnxruntime and the image model file")
    return dataclasses.replace(settings, classifier=dataclasses.replace(settings.classifier, backend=backend))


def _examples_folder(storage: Storage, settings: Settings) -> list[str]:
    """The folder a taught classifier learned from, when it lies in this storage: its examples are not sorted."""
    backend = settings.classifier.backend
    if backend in ("auto", "heuristic", "learned"):
        return []
    from ..cache import storage_id
    from ..learned import TaughtModel

    try:
        source = TaughtModel.load(backend).taught_from or {}
    except ValueError:
        return []
    if "path" in source and storage.kind == "local":  # a folder: wherever it lies under the one analysed
        try:
            inside = Path(source["path"]).relative_to(Path(storage.root).resolve()).as_posix()
        except ValueError:
            return []
        return [inside + "/"] if inside != "." else []
    prefix = source.get("prefix")
    return [prefix] if prefix and source.get("storage") == storage_id(storage) else []


def _own_folders(storage: Storage) -> list[str]:
    """The tool's own state folder (journal, plans, uploads), when it lies inside a folder being analysed."""
    from ..session_log import state_dir

    root = getattr(storage, "root", None)
    try:
        own = state_dir().resolve()
        return [own.relative_to(root).as_posix() + "/"] if root is not None and root in own.parents else []
    except (OSError, ValueError):
        return []


def _with_version(result: AnalysisResult, obj: ObjectInfo) -> AnalysisResult:
    result.version = obj.version
    result.mtime = obj.mtime
    return result
