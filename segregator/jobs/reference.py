"""The by-reference job's plan: only the images that look like the reference move."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ..analysis import AnalysisResult
from ..plan import MovePlan, PlanItem
from ..settings import Settings
from ..similarity import Reference, SimilarityResult, find_similar
from ..storage import Storage, normalise_prefix
from .common import _dest, _item, _keep, _output_under
from .sources import storage_record


@dataclass(frozen=True)
class ReferenceMatch:
    result: AnalysisResult
    similarity: SimilarityResult | None   # None when the image could not be analysed


def match_reference(reference: Reference, results: Sequence[AnalysisResult], settings: Settings = Settings()) -> list[ReferenceMatch]:
    """Compare every analysed image with the reference (vectorised), in input order."""
    ok = [r for r in results if r.ok]
    sims = iter(find_similar(reference, [r.fingerprint for r in ok], settings.similarity, [r.embedding for r in ok]))
    return [ReferenceMatch(r, next(sims) if r.ok else None) for r in results]


def iter_matches(reference: Reference, results: Iterable[AnalysisResult], settings: Settings = Settings(),
                 chunk: int = 1000) -> Iterator[ReferenceMatch]:
    """match_reference over a stream of results, a chunk at a time (flat memory)."""
    batch: list[AnalysisResult] = []
    for r in results:
        batch.append(r)
        if len(batch) >= chunk:
            yield from match_reference(reference, batch, settings)
            batch = []
    if batch:
        yield from match_reference(reference, batch, settings)


def reference_header(storage: Storage, source_prefix: str = "", output_folder: str = "similar") -> MovePlan:
    """The plan's header: matches go to output_folder (relative to the source prefix unless it starts with '/')."""
    return MovePlan("similar", storage_record(storage), normalise_prefix(source_prefix),
                    _output_under(source_prefix, output_folder), [])


def reference_items(matches: Iterable[ReferenceMatch], header: MovePlan) -> Iterator[PlanItem]:
    """Only the matches move; everything else is kept where it is, with its distances."""
    for m in matches:
        r, s = m.result, m.similarity
        if s is None:
            yield _keep(r, f"not analysed: {r.error}")
            continue
        scores = {"hamming": s.hamming, "dhash_distance": s.dhash_distance, "pixel_similarity": s.pixel_similarity}
        if s.embedding_similarity is not None:
            scores["embedding_similarity"] = s.embedding_similarity
        if s.match:
            reason = f"matches reference (pHash distance {s.hamming}, pixel similarity {s.pixel_similarity:.2f}"
            if s.embedding_similarity is not None:
                reason += f", content similarity {s.embedding_similarity:.2f}"
            yield _item(r, _dest(header.output_prefix, "", r.key), reason + ")", None, s.pixel_similarity, scores)
        else:
            yield PlanItem(r.key, r.key, "keep",
                           f"no match (pHash distance {s.hamming}, pixel similarity {s.pixel_similarity:.2f})",
                           None, s.pixel_similarity, scores)


def reference_plan(
    storage: Storage, matches: Sequence[ReferenceMatch], source_prefix: str = "", output_folder: str = "similar",
) -> MovePlan:
    """reference_header and reference_items as one in-memory plan."""
    plan = reference_header(storage, source_prefix, output_folder)
    plan.items = list(reference_items(matches, plan))
    return plan
