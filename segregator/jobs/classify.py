"""The classify job's plan: every image to its category's folder, placeholders to no_image/."""

from __future__ import annotations

from typing import Sequence

from ..analysis import AnalysisResult
from ..plan import MovePlan
from ..settings import CATEGORIES, NO_IMAGE
from ..storage import Storage, normalise_prefix
from .common import _dest, _item, _keep, _top, check_folder_name
from .sources import storage_record


def classification_plan(
    storage: Storage, results: Sequence[AnalysisResult], source_prefix: str = "", output_prefix: str | None = None,
    faces_folder: str | None = None,
) -> MovePlan:
    """Placeholders to <output>/no_image/, every other image to <output>/<Category>/ (output defaults to the
    source); with `faces_folder`, images where faces were found go to <output>/<faces_folder>/ instead."""
    output = normalise_prefix(source_prefix if output_prefix is None else output_prefix)
    if faces_folder is not None:
        faces_folder = check_folder_name(faces_folder)
    items = []
    categories: list[str] | None = None  # the classifier's: the first analysed result's scores name them
    for r in results:
        if not r.ok:
            items.append(_keep(r, f"not analysed: {r.error}"))
            continue
        if categories is None:
            categories = list(r.classification.scores)  # the nine, or a taught classifier's own
        folder = r.category
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
        items.append(_item(r, _dest(output, into, r.key), reason, folder, confidence, _top(r.classification.scores)))
    return MovePlan("classify", storage_record(storage), normalise_prefix(source_prefix), output, items,
                    extra={"categories": (categories or list(CATEGORIES)) + [NO_IMAGE]})
