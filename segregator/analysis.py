"""Analyse images in a storage: decode, measure, classify, fingerprint, check for placeholders, in parallel."""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import itertools
import multiprocessing
import os
import posixpath
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from .classify import Classification, classify_features
from .features import Features, extract_features
from .hashing import Fingerprint, fingerprint
from .loading import ImageLoadError, LoadedImage, is_image_name, load_image, sniff_image
from .placeholders import PlaceholderResult, detect_placeholder
from .settings import Settings
from .similarity import Reference
from .storage import ObjectInfo, Storage, normalise_prefix

ProgressCallback = Callable[[int, int], None]


@dataclass
class AnalysisResult:
    """Everything the engine learned about one object, or why it could not."""

    key: str
    size: int = 0
    error: str | None = None
    version: str = ""               # the listed version (ETag, or inode and mtime): a plan carries it to the run
    mtime: float = 0.0              # the listed modification time (LastModified on buckets); not cached
    skipped: bool = False           # not an image (key without extension whose content is not one)
    width: int = 0
    height: int = 0
    format: str = ""
    features: Features | None = None
    classification: Classification | None = None
    placeholder: PlaceholderResult | None = None
    fingerprint: Fingerprint | None = None
    model_labels: tuple[str, ...] = ()     # the image model's top ImageNet classes (learned backend)
    model_tags: tuple[tuple[str, float], ...] = ()  # ImageNet classes of probability >= learned.TAG_MIN, surest first
    faces: tuple[tuple[float, float, float, float], ...] = ()  # (x, y, w, h) fractions, largest first
    digest: str = ""                # SHA-256 of the bytes (duplicates: the exact tier)
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)  # kept when asked (teaching)
    levels: np.ndarray | None = field(default=None, repr=False, compare=False)     # mid-level features (teaching)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped

    @property
    def category(self) -> str | None:
        """Where full classification files it: 'no_image' for placeholders, else the category."""
        if not self.ok:
            return None
        if self.placeholder is not None and self.placeholder.is_placeholder:
            return "no_image"
        return self.classification.category if self.classification else None


def analyse_bytes(
    key: str,
    data: bytes,
    settings: Settings = Settings(),
    examples: Sequence[Reference] = (),
    size: int = 0,
    placeholders: bool = True,
) -> AnalysisResult:
    """Analyse one image's bytes. Never raises for a bad image: the error is in the result."""
    return analyse_many([(key, data, size)], settings, examples, placeholders)[0]


@dataclass
class _Work:
    """One image on its way through analyse_many's stages."""

    result: AnalysisResult
    data: bytes
    loaded: LoadedImage | None = None
    model_evidence: float | None = None


def analyse_many(
    images: Sequence[tuple[str, bytes, int]],
    settings: Settings = Settings(),
    examples: Sequence[Reference] = (),
    placeholders: bool = True,
) -> list[AnalysisResult]:
    """analyse_bytes() of several images, each (key, bytes, listed size or 0), stage by stage: all of them are
    decoded, then all measured, then all through the image model, and so on, so that each stage's code and
    weights are still in the processor's caches for the next image (8 images of 3 MP: 9 % less time an image
    than each image through every stage in turn). The same results as analyse_bytes, in order. All their
    bytes are held until the last stage (the placeholder check reads a candidate's again for OCR)."""
    works = [_decoded(key, data, size, settings) for key, data, size in images]
    live = [w for w in works if w.loaded is not None]
    for w in live:
        w.result.features = extract_features(w.loaded.image, w.loaded.aspect_ratio)
        w.result.classification = classify_features(w.result.features, settings.classifier)
    image_model = settings.classifier.backend not in ("heuristic", "auto")  # learned, or a taught classifier
    if live and (image_model or settings.similarity.min_embedding_similarity > 0):
        from . import learned

        # one run of the network for the whole group (the same outputs as one run an image; the network itself
        # takes about 13 % less time an image)
        outputs = zip(*learned.run_model(np.stack([learned.preprocess(w.loaded.image) for w in live])))
        for w, (logits, embedding, levels) in zip(live, outputs):
            if image_model:
                w.model_evidence = learned.placeholder_likelihood(
                    _classify_learned(w.result, (logits, embedding, levels), settings))
            else:  # by-reference matching's third stage
                w.result.embedding = embedding.astype(np.float32)
    if settings.faces.detect == "on" or (settings.faces.detect == "auto" and image_model):
        for w in live:
            _find_faces(w.result, w.loaded.image, settings)
    for w in live:
        w.result.fingerprint = fingerprint(w.loaded.image, settings.similarity.thumb_size)
    if placeholders:
        for w in live:
            w.result.placeholder = _placeholder(w, settings, examples)
    return [w.result for w in works]


def _decoded(key: str, data: bytes, size: int, settings: Settings) -> _Work:
    """The first stage: the bytes' digest and the working image, or the error (then loaded is None)."""
    work = _Work(AnalysisResult(key=key, size=size or len(data), digest=hashlib.sha256(data).hexdigest()), data)
    try:
        work.loaded = load_image(data, settings.loader.working_size, settings.loader.max_pixels)
    except ImageLoadError as exc:
        if not is_image_name(key) and not sniff_image(data[:16]):
            work.result.skipped = True
        work.result.error = str(exc)
        return work
    work.result.width, work.result.height, work.result.format = work.loaded.width, work.loaded.height, work.loaded.format
    return work


def _placeholder(work: _Work, settings: Settings, examples: Sequence[Reference]) -> PlaceholderResult:
    def ocr_image() -> Image.Image:
        return load_image(work.data, settings.loader.ocr_size, settings.loader.max_pixels).image

    r, loaded = work.result, work.loaded
    return detect_placeholder(loaded.image, r.features, settings.placeholder, ocr_image, examples, r.fingerprint,
                              (loaded.width, loaded.height), work.model_evidence)


def _classify_learned(result: AnalysisResult, outputs: tuple[np.ndarray, np.ndarray, np.ndarray],
                      settings: Settings) -> np.ndarray:
    """Replace the heuristic classification by the image model's, from its outputs for the image (logits,
    embedding, levels): ImageNet classes summed into the nine categories and blended with the shipped head
    ("learned"), or the user's taught categories (backend = a taught classifier's path). Returns the image's
    teach_features()."""
    from . import learned

    logits, embedding, levels = outputs
    features = learned.teach_features(embedding, levels)
    result.model_tags = learned.class_tags(logits)
    backend = settings.classifier.backend
    if backend == "learned":
        scores, labels = learned.imagenet_scores(logits, result.classification.scores)
        head = learned.default_head() if settings.classifier.head else None
        if head is not None:
            p = head.scores(features)
            mixed = learned.blend(np.array([[p[c] for c in learned.CATEGORIES]]),
                                  np.array([[scores[c] for c in learned.CATEGORIES]]))[0]
            scores = dict(zip(learned.CATEGORIES, mixed.tolist()))
        result.model_labels = tuple(labels)
        familiarity = None
    else:
        model = _taught(backend)
        scores, familiarity = model.scores(features), model.familiarity(features)
    best = max(scores, key=scores.get)
    result.classification = Classification(best, round(scores[best], 4), {c: round(v, 4) for c, v in scores.items()},
                                            None if familiarity is None else round(familiarity, 4))
    if settings.classifier.keep_embedding or settings.similarity.min_embedding_similarity > 0:
        result.embedding = embedding.astype(np.float32)
    if settings.classifier.keep_embedding:
        result.levels = levels.astype(np.float32)
    return features


def _find_faces(result: AnalysisResult, image: Image.Image, settings: Settings) -> None:
    """Record the faces; a large enough one makes the image People (where People is a category)."""
    from .faces import detect_faces

    result.faces = detect_faces(image)
    c = result.classification
    if not result.faces or not makes_people(c.scores, result.faces[0][2] * result.faces[0][3], settings.faces.min_share):
        return
    # People at 0.8 or more; the other categories keep their proportions in the rest
    people = max(0.8, c.scores["People"])
    rest = sum(v for k, v in c.scores.items() if k != "People") or 1.0
    scores = {k: (people if k == "People" else round(v / rest * (1 - people), 4)) for k, v in c.scores.items()}
    result.classification = Classification("People", round(people, 4), scores)


FACE_ART_LIMIT = 0.25  # a face in an image this likely Art is a face in a painting or drawing: Art keeps it


def makes_people(scores: dict[str, float], face_share: float, min_share: float) -> bool:
    """Whether the largest face (covering `face_share` of the image) makes the image People: it must be large
    enough (not a small face in a wider scene) and the image not likely Art."""
    return "People" in scores and face_share >= min_share and scores.get("Art", 0.0) < FACE_ART_LIMIT


@functools.lru_cache(maxsize=4)
def _taught_at(path: str, mtime: float):
    from .learned import TaughtModel

    return TaughtModel.load(path)


def _taught(path: str):
    return _taught_at(path, os.path.getmtime(path))


def analyse_file(path: str | os.PathLike, key: str | None = None, settings: Settings = Settings(),
                 examples: Sequence[Reference] = ()) -> AnalysisResult:
    """Analyse one file on disk (the key defaults to its name)."""
    key = key or os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return AnalysisResult(key=key, error=f"cannot read file: {exc.strerror or exc}")
    return analyse_bytes(key, data, settings, examples)


def iter_image_objects(storage: Storage, prefix: str = "", recursive: bool = True,
                       exclude: Iterable[str] = (), listing: Callable[[int], None] | None = None) -> Iterator[ObjectInfo]:
    """Objects under prefix that may be images, as the listing yields them: an image extension, or no
    extension at all (decided by content when read). Keys under any `exclude` prefix are left out.
    `listing(n)` hears the count as the listing goes (every 1,000 objects)."""
    skip = tuple(normalise_prefix(e) for e in exclude if e)
    for n, obj in enumerate(storage.list(prefix, recursive=recursive), 1):
        if listing and n % 1000 == 0:
            listing(n)
        if skip and obj.key.startswith(skip):
            continue
        name = posixpath.basename(obj.key)
        if is_image_name(name) or "." not in name:
            yield obj


# Worker state for process pools: set once per worker process.
_WORKER: dict = {}


def _init_worker(settings: Settings, examples: Sequence[Reference], placeholders: bool) -> None:
    _WORKER.update(settings=settings, examples=examples, placeholders=placeholders, storage=None)


def _init_pool_worker(settings: Settings, examples: Sequence[Reference], placeholders: bool) -> None:
    """A pool worker leaves Ctrl-C to the process that owns the pool (which shuts the pool down): otherwise each
    worker prints a KeyboardInterrupt traceback of its own."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(settings, examples, placeholders)


def _work(item: tuple[str, int, bytes | None, str | None]) -> AnalysisResult:
    """One item analysed in this process (a single-process run: a result, and its progress, an image at a time)."""
    return _analyse_items([item], _WORKER["settings"], _WORKER["examples"], _WORKER["placeholders"],
                          _WORKER.get("storage"))[0]


def analyse_chunk(storage: Storage, objects: Sequence[ObjectInfo], settings: Settings,
                  examples: Sequence[Reference] = (), placeholders: bool = True) -> list[AnalysisResult]:
    """Read and analyse a chunk of objects in this process (reads overlap the analysis on network storages):
    what a cluster worker does with each task. One result per object, in order."""
    return _analyse_items(_read_all(storage, objects), settings, examples, placeholders)


def _work_batch(storage: Storage | None, items: list) -> list[AnalysisResult]:
    from .faults import hit

    hit("analysis-batch")
    _WORKER["storage"] = storage  # local folders: the worker reads the files itself
    return _analyse_items(items, _WORKER["settings"], _WORKER["examples"], _WORKER["placeholders"], storage)


BATCH = 8  # images per task sent to a worker: fewer round trips
STAGED_IMAGES = 16          # images analysed stage by stage together (analyse_many) at most
STAGED_BYTES = 32 * 2**20   # ... and their bytes at most (all held until the last stage)


def _analyse_items(items: Iterable[tuple[str, int, bytes | None, str | None]], settings: Settings,
                   examples: Sequence[Reference], placeholders: bool,
                   storage: Storage | None = None) -> list[AnalysisResult]:
    """A result for each (key, size, bytes, error) item, in order: an item without bytes or error is read from
    `storage` first; the images go through analyse_many in groups of at most STAGED_IMAGES and STAGED_BYTES."""
    results: list = []
    group: list[tuple[int, str, bytes, int]] = []  # (index in results, key, bytes, size)
    held = 0
    for key, size, data, error in items:
        if data is None and error is None and storage is not None:
            key, size, data, error = _read_one(storage, ObjectInfo(key, size))
        if error is not None:
            results.append(AnalysisResult(key=key, size=size, error=error))
            continue
        group.append((len(results), key, data or b"", size))
        results.append(None)  # its result when its group is done
        held += len(data or b"")
        if len(group) >= STAGED_IMAGES or held >= STAGED_BYTES:
            _analyse_group(group, results, settings, examples, placeholders)
            group, held = [], 0
    _analyse_group(group, results, settings, examples, placeholders)
    return results


def _analyse_group(group: list[tuple[int, str, bytes, int]], results: list, settings: Settings,
                   examples: Sequence[Reference], placeholders: bool) -> None:
    done = analyse_many([(key, data, size) for _, key, data, size in group], settings, examples, placeholders)
    for (index, *_), result in zip(group, done):
        results[index] = result


WORKER_LOST = "the analysis worker stopped abruptly on this batch"  # the start of the error its images get


def _read_one(storage: Storage, obj: ObjectInfo) -> tuple[str, int, bytes | None, str | None]:
    try:
        return obj.key, obj.size, storage.read(obj.key), None
    except OSError as exc:
        return obj.key, obj.size, None, f"cannot read: {exc}"


@functools.cache
def _large_buffers_kept() -> None:
    """Undo a fixed malloc trim threshold (Dask sets MALLOC_TRIM_THRESHOLD_=65536 for its workers): glibc then
    also fixes the mmap threshold at its default, so every image-sized buffer is mapped and unmapped again, and
    the analysis runs a fifth slower (13.3 against 10.9 ms an image here). Larger thresholds (those glibc's own
    adjustment ends at: 32 MB, trimming above 64 MB) keep such buffers for reuse. A no-op off glibc, or without
    the variable."""
    if os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        _mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        _mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD


@functools.cache
def _few_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at two. By default each reading thread gets an arena of its own, and the
    image-sized buffers freed in them stay with the process: peak memory then grows with the number of
    images read (23 % from 1k to 10k objects in bench/memory.py, 10 % with the cap). A no-op off glibc."""
    _mallopt(-8, 2)  # M_ARENA_MAX


def _mallopt(param: int, value: int) -> None:
    """glibc's mallopt(param, value) for this process; nothing elsewhere."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(param, value)
    except (OSError, AttributeError):
        pass


def _read_all(storage: Storage, objects: Sequence[ObjectInfo]) -> Iterator[tuple[str, int, bytes | None, str | None]]:
    """Each object's bytes, in order; network storages read in parallel threads with a bounded window,
    so at most a few dozen images are held in memory at once."""
    threads = storage.read_threads
    if threads <= 1:
        for obj in objects:
            yield _read_one(storage, obj)
        return
    _few_malloc_arenas()
    with cf.ThreadPoolExecutor(threads) as pool:
        pending: list[cf.Future] = []
        for obj in objects:
            pending.append(pool.submit(_read_one, storage, obj))
            if len(pending) >= threads * 2:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()


def _noop() -> None:
    time.sleep(0.05)  # long enough that no worker is idle before all are started


@contextlib.contextmanager
def _neutral_main():
    """Hide the running script from multiprocessing while workers start. Streamlit runs each page as
    `__main__`; a new worker would otherwise import (and so run) the page again."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _start_pool(workers: int, settings: Settings, examples: Sequence[Reference], placeholders: bool) -> cf.ProcessPoolExecutor:
    ctx = multiprocessing.get_context("forkserver")
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_pool_worker,
                                  initargs=(settings, tuple(examples), placeholders))
    with _neutral_main():
        # Every submit while no worker is idle starts one: start them all now, inside the guard.
        for fut in [pool.submit(_noop) for _ in range(workers)]:
            fut.result()
    return pool


_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()
_IN_USE: dict[int, int] = {}  # id(pool) -> passes using it now (never shut down under them)
MAX_POOLS = 2  # pools kept started (per settings): the app's classify page and another page's analysis


def _pool(workers: int, settings: Settings, examples: Sequence[Reference], placeholders: bool) -> cf.ProcessPoolExecutor:
    """A started worker pool, kept for the next pass with the same settings (the app analyses again and
    again; starting workers and their imports costs about half a second)."""
    key = (workers, repr(settings), tuple(e.fingerprint.thumb.tobytes() for e in examples), placeholders)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            for old_key in [k for k, p in _POOLS.items() if not _IN_USE.get(id(p))][:max(0, len(_POOLS) + 1 - MAX_POOLS)]:
                _POOLS.pop(old_key).shutdown(wait=False, cancel_futures=True)  # idle ones only, oldest first
            pool = _POOLS[key] = _start_pool(workers, settings, examples, placeholders)
        _IN_USE[id(pool)] = _IN_USE.get(id(pool), 0) + 1
        return pool


def _release(pool: cf.ProcessPoolExecutor) -> None:
    with _POOLS_LOCK:
        left = _IN_USE.get(id(pool), 1) - 1
        if left > 0:
            _IN_USE[id(pool)] = left
        else:
            _IN_USE.pop(id(pool), None)


POOL_RESTARTS = 2


def _drop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Forget a broken pool (only that one: another pass may be using a pool of its own)."""
    with _POOLS_LOCK:
        for key, value in list(_POOLS.items()):
            if value is pool:
                del _POOLS[key]
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.shutdown(wait=True, cancel_futures=True)
        _POOLS.clear()


atexit.register(shutdown_pools)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def analyse_objects(
    storage: Storage,
    objects: Sequence[ObjectInfo],
    settings: Settings = Settings(),
    examples: Sequence[Reference] = (),
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    placeholders: bool = True,
) -> list[AnalysisResult]:
    """Analyse the given objects: one result per object, in input order (extension-less keys that turn out
    not to be images come back with `skipped` set). Reads stream through a bounded window, so memory stays
    flat however many objects there are."""
    total = len(objects)
    workers = default_workers() if workers is None else max(1, workers)
    results: list[AnalysisResult] = []
    if progress:
        progress(0, total)
    if workers == 1 or total < 4:
        _init_worker(settings, examples, placeholders)
        for item in _read_all(storage, objects):
            results.append(_work(item))
            if progress:
                progress(len(results), total)
    else:
        # Local folders: workers read the files themselves (no image bytes through pipes). Buckets: this
        # process reads with threads and sends the bytes.
        worker_reads = storage.read_threads <= 1
        items = (((o.key, o.size, None, None) for o in objects) if worker_reads else _read_all(storage, objects))
        chunks = _chunked(items, BATCH)
        pending: list[tuple[cf.Future, list]] = []
        breaks = 0
        while True:
            pool = _pool(workers, settings, examples, placeholders)
            unsent: list = []  # a chunk whose submit found the pool broken
            try:
                for chunk in chunks:
                    unsent = chunk
                    pending.append((pool.submit(_work_batch, storage if worker_reads else None, chunk), chunk))
                    unsent = []
                    while len(pending) >= workers * 2:
                        results.extend(pending[0][0].result())
                        pending.pop(0)
                        if progress:
                            progress(len(results), total)
                while pending:
                    results.extend(pending[0][0].result())
                    pending.pop(0)
                    if progress:
                        progress(len(results), total)
                break
            except cf.process.BrokenProcessPool:
                # A worker died (out of memory, a crash in a decoder): a new pool gets again what was in
                # flight; when that keeps happening, those images get a per-file error and the pass goes on.
                _drop_pool(pool)
                redo = [c for _, c in pending] + ([unsent] if unsent else [])
                pending = []
                breaks += 1
                if breaks > POOL_RESTARTS:
                    breaks = 0
                    for chunk in redo:
                        results.extend(AnalysisResult(key=item[0], size=item[1], error=f"{WORKER_LOST} (out of memory?)")
                                       for item in chunk)
                    redo = []
                chunks = itertools.chain(redo, chunks)
            finally:
                _release(pool)
    return results


def _chunked(items, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
