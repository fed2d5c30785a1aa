"""The search job: analyse a folder or bucket (incrementally, through the analysis cache), bring its search store
up to date, query it by tags or by likeness to an image, and turn the hits into a move plan."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    import numpy as np

from ..analysis import AnalysisResult
from ..plan import MovePlan, PlanItem
from ..search import Hit, SearchStore
from ..settings import Settings
from ..storage import Storage, normalise_prefix
from .common import _output_under
from .sources import storage_record


def search_settings(settings: Settings) -> Settings:
    """The analysis settings of a search: the image model's classes, faces and embedding for every image."""
    from .analyse import checked_settings

    settings = checked_settings(settings)
    if settings.classifier.backend == "heuristic":
        raise ValueError("search needs the image model (onnxruntime and segregator/models/)")
    return settings.with_overrides({"similarity.min_embedding_similarity": settings.similarity.min_embedding_similarity or 0.8})


def open_store(storage: Storage) -> SearchStore:
    from ..cache import storage_id

    return SearchStore(storage_id(storage))


def update_store(store: SearchStore, results: Iterable[AnalysisResult], prefix: str = "", recursive: bool = True,
                 errors: list[tuple[str, str]] | None = None) -> dict:
    """Bring the store up to date with a full pass of results under `prefix` (keys no longer listed there are
    dropped, unless the pass was not recursive); the images that could not be analysed are added to `errors`."""
    listed: set[str] = set()

    def triples() -> Iterator[tuple[str, str, AnalysisResult]]:
        for r in results:
            listed.add(r.key)
            if r.error and not r.skipped and errors is not None:
                errors.append((r.key, r.error))
            yield r.key, r.version or f"digest:{r.digest}", r  # (listed storages always give a version)

    counts: dict = {}
    batch: list = []
    for t in triples():
        batch.append(t)
        if len(batch) >= 2000:  # stored a batch at a time: flat memory, and a stop keeps what is done
            _add(counts, store.update(batch))
            batch = []
    _add(counts, store.update(batch, listed if recursive else None, normalise_prefix(prefix)))
    return counts


def _add(total: dict, more: dict) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def search_embedding(path: str, settings: Settings, name: str) -> "np.ndarray":
    """The embedding of the image to search by (a file outside the source); ValueError, saying why, when it
    cannot be used."""
    from ..analysis import analyse_file

    r = analyse_file(path, settings=settings)
    if not r.ok or r.embedding is None:
        raise ValueError(f"cannot use {name} as the image to search by: {r.error or 'no embedding'}")
    return r.embedding


MIN_LIKENESS = 0.5  # cosine of the image model's embeddings: unrelated photos 0.21 median, 0.45 at the 99th
                    # percentile; a quarter cut of the same photo 0.46-0.8, a 35 % zoom 0.64-0.9, mirrored 0.92+


def find(store: SearchStore, prefix: str, top: int, tag: str = "", category: str | None = None, faces: bool = False,
         like: "np.ndarray | None" = None, min_score: float = MIN_LIKENESS) -> list[Hit]:
    """The `top` best hits inside `prefix`: by likeness to the embedding `like` (only those at least `min_score`
    alike), else by tags and filters. (The store holds the whole storage area: under a prefix, more are read and
    those outside left out.)"""
    prefix = normalise_prefix(prefix)
    if like is not None:
        hits = [h for h in store.like(like, top + 64 if prefix else top) if h.score >= min_score]
    else:
        hits = store.by_tags(tag, category or None, faces, limit=None if prefix else top)
    return [h for h in hits if h.key.startswith(prefix)][:top]


def describe(tag: str = "", category: str | None = None, faces: bool = False, like: str | None = None) -> str:
    """The query in words, for the plan's reasons."""
    if like:
        return f"like {like}"
    return ", ".join(x for x in (tag, category and f"category {category}", faces and "faces") if x)


def search_header(storage: Storage, source_prefix: str = "", output_folder: str = "search_results") -> MovePlan:
    """The plan's header: hits go to output_folder (relative to the source prefix unless it starts with '/')."""
    return MovePlan("search", storage_record(storage), normalise_prefix(source_prefix),
                    _output_under(source_prefix, output_folder), [])


def search_items(hits: Iterable[Hit], header: MovePlan, query: str, copy: bool = False) -> Iterator[PlanItem]:
    """Each hit moved (or copied) to the output folder, with its score and tags; a move carries the version the
    hit was analysed at, so a file changed since is left where it is."""
    for h in hits:
        dest = header.output_prefix + posixpath.basename(h.key)
        yield PlanItem(h.key, dest, "copy" if copy else "move", f"search {query}: score {h.score:.3f}; tags: "
                       + ", ".join(h.tags[:6]), None, h.score, {"score": h.score, "tags": list(h.tags)},
                       source_size=h.size or None,
                       source_version=h.version if h.version and not h.version.startswith("digest:") else None)
