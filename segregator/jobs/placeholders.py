"""The placeholder job's plan: placeholders to no_image/, everything else stays."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from ..analysis import AnalysisResult
from ..plan import MovePlan, PlanItem
from ..settings import NO_IMAGE
from ..storage import Storage, normalise_prefix
from .common import _dest, _item, _keep, _output_under
from .sources import storage_record


def placeholder_header(storage: Storage, source_prefix: str = "", output_folder: str = NO_IMAGE) -> MovePlan:
    return MovePlan("placeholders", storage_record(storage), normalise_prefix(source_prefix),
                    _output_under(source_prefix, output_folder), [])


def placeholder_items(results: Iterable[AnalysisResult], header: MovePlan) -> Iterator[PlanItem]:
    """Placeholders move to the output folder (no_image/ under the source); the rest are kept."""
    for r in results:
        if not r.ok or r.placeholder is None:
            yield _keep(r, f"not analysed: {r.error}")
        elif r.placeholder.is_placeholder:
            yield _item(r, _dest(header.output_prefix, "", r.key), "; ".join(r.placeholder.reasons),
                        NO_IMAGE, r.placeholder.score,
                        {"placeholder_score": r.placeholder.score, "reasons": list(r.placeholder.reasons)})
        else:
            yield PlanItem(r.key, r.key, "keep", "not a placeholder", None, r.placeholder.score,
                           {"placeholder_score": r.placeholder.score, "reasons": list(r.placeholder.reasons)})


def placeholder_plan(
    storage: Storage, results: Sequence[AnalysisResult], source_prefix: str = "", output_folder: str = NO_IMAGE,
) -> MovePlan:
    """placeholder_header and placeholder_items as one in-memory plan."""
    plan = placeholder_header(storage, source_prefix, output_folder)
    plan.items = list(placeholder_items(results, plan))
    return plan
