"""The placeholder job's plan: placeholders to no_image/, everything else stays."""

from __future__ import annotations

from typing import Sequence

from ..analysis import AnalysisResult
from ..plan import MovePlan, PlanItem
from ..settings import NO_IMAGE
from ..storage import Storage, normalise_prefix
from .common import _dest, _item, _keep, _output_under
from .sources import storage_record


def placeholder_plan(
    storage: Storage, results: Sequence[AnalysisResult], source_prefix: str = "", output_folder: str = NO_IMAGE,
) -> MovePlan:
    """Placeholders move to <source>/no_image/ (or output_folder); the rest are kept."""
    output = _output_under(source_prefix, output_folder)
    items = []
    for r in results:
        if not r.ok or r.placeholder is None:
            items.append(_keep(r, f"not analysed: {r.error}"))
        elif r.placeholder.is_placeholder:
            items.append(_item(r, _dest(output, "", r.key), "; ".join(r.placeholder.reasons),
                               NO_IMAGE, r.placeholder.score,
                               {"placeholder_score": r.placeholder.score, "reasons": list(r.placeholder.reasons)}))
        else:
            items.append(PlanItem(r.key, r.key, "keep", "not a placeholder", None, r.placeholder.score,
                                  {"placeholder_score": r.placeholder.score, "reasons": list(r.placeholder.reasons)}))
    return MovePlan("placeholders", storage_record(storage), normalise_prefix(source_prefix), output, items)
