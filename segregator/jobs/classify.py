"""The classify job's plan: every image to its category's folder, placeholders to no_image/."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from ..analysis import AnalysisResult
from ..learned import NONE_OF_THESE
from ..plan import MovePlan, PlanItem
from ..settings import CATEGORIES, NO_IMAGE
from ..storage import Storage, normalise_prefix
from .common import _dest, _item, _keep, _top, check_folder_name
from .sources import storage_record


def classifier_categories(backend: str) -> list[str]:
    """The categories a classifier sorts into: the nine, or those of a taught classifier (its file)."""
    if backend in ("auto", "heuristic", "learned"):
        return list(CATEGORIES)
    from ..learned import TaughtModel

    return list(TaughtModel.load(backend).sorts_into)


def classification_header(storage: Storage, source_prefix: str = "", output_prefix: str | None = None,
                          categories: Sequence[str] = CATEGORIES) -> MovePlan:
    """The plan's header (no items yet): output defaults to the source; categories are the classifier's."""
    output = normalise_prefix(source_prefix if output_prefix is None else output_prefix)
    return MovePlan("classify", storage_record(storage), normalise_prefix(source_prefix), output, [],
                    extra={"categories": list(categories) + [NO_IMAGE]})


UNKNOWN = "unknown"  # the category of an image unlike every taught category: it stays where it is


def _closest(scores: dict[str, float]) -> str:
    """The likeliest real category (not "none of these")."""
    return max((c for c in scores if c != NONE_OF_THESE), key=scores.get, default="none")


def classification_items(results: Iterable[AnalysisResult], header: MovePlan, faces_folder: str | None = None,
                         min_familiarity: float = 0.0) -> Iterator[PlanItem]:
    """Placeholders to <output>/no_image/, every other image to <output>/<Category>/; with `faces_folder`,
    images where faces were found go to <output>/<faces_folder>/ instead; an image a taught classifier finds
    less familiar than `min_familiarity` stays where it is (category "unknown"). One item per result, as
    they come."""
    if faces_folder is not None:
        faces_folder = check_folder_name(faces_folder)
    output = header.output_prefix
    for r in results:
        if not r.ok:
            yield _keep(r, f"not analysed: {r.error}")
            continue
        folder = r.category
        c = r.classification
        if folder == NONE_OF_THESE:
            yield PlanItem(r.key, r.key, "keep", f"unknown: most like your \"{NONE_OF_THESE}\" examples "
                           f"({c.confidence:.0%}); closest category {_closest(c.scores)}", UNKNOWN, c.confidence,
                           _top(c.scores))
            continue
        if folder != NO_IMAGE and c.familiarity is not None and c.familiarity < min_familiarity:
            yield PlanItem(r.key, r.key, "keep", f"unknown: unlike every taught category (likeness to the nearest "
                           f"example {c.familiarity:.2f}, below {min_familiarity:.2f}); closest category {folder}",
                           UNKNOWN, c.confidence, _top(c.scores))
            continue
        if folder == NO_IMAGE:
            reason = "placeholder: " + "; ".join(r.placeholder.reasons[:3])
            confidence = r.placeholder.score
        else:
            reason = f"classified {folder} ({r.classification.confidence:.0%})"
            if r.model_labels:
                reason += f": looks like {', '.join(r.model_labels[:2])}"
            if r.faces:
                reason += f"; {len(r.faces)} face(s)"
            confidence = r.classification.confidence
        into = faces_folder if r.faces and faces_folder and folder != NO_IMAGE else folder
        yield _item(r, _dest(output, into, r.key), reason, folder, confidence, _top(r.classification.scores))


def classification_plan(
    storage: Storage, results: Sequence[AnalysisResult], source_prefix: str = "", output_prefix: str | None = None,
    faces_folder: str | None = None,
) -> MovePlan:
    """classification_header and classification_items as one in-memory plan (the categories are those the
    first analysed result was scored on)."""
    results = list(results)
    scored = next((r for r in results if r.ok), None)
    categories = [c for c in scored.classification.scores if c != NONE_OF_THESE] if scored else list(CATEGORIES)
    plan = classification_header(storage, source_prefix, output_prefix, categories)
    plan.items = list(classification_items(results, plan, faces_folder))
    return plan
