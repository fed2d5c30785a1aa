"""What every job's plan is made of: plan items from analysis results, folder names, the user's edits."""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Sequence

from ..analysis import AnalysisResult
from ..plan import MovePlan, PlanItem
from ..runs import TRASH
from ..settings import CATEGORIES, NO_IMAGE
from ..storage import normalise_prefix


OUTPUT_FOLDERS = set(CATEGORIES) | {NO_IMAGE}


def _item(r: AnalysisResult, destination: str, reason: str, category: str | None = None,
          confidence: float | None = None, scores: dict | None = None) -> PlanItem:
    """A move of an analysed object, carrying its size and version as listed: a source that differs when the
    run reaches it is left where it is."""
    return PlanItem(r.key, destination, "move", reason, category, confidence, dict(scores or {}),
                    source_size=r.size if r.version else None, source_version=r.version or None)


def _keep(result: AnalysisResult, reason: str) -> PlanItem:
    return PlanItem(result.key, result.key, "keep", reason, error=result.error)


def _dest(output_prefix: str, folder: str, key: str) -> str:
    return normalise_prefix(output_prefix) + normalise_prefix(folder) + posixpath.basename(key)


def check_folder_name(name: str) -> str:
    """A folder name (or folders joined by '/') that stays inside the output; returns it without surrounding
    spaces and slashes. ValueError, saying why, for '..', '.', empty parts, backslashes or the tool's own folders."""
    clean = name.strip().strip("/")
    parts = clean.split("/")
    if not clean or any(p.strip() in ("", ".", "..") for p in parts) or "\\" in clean or "\x00" in clean:
        raise ValueError(f"not a usable folder name: {name!r} (folder names joined by '/', without '..')")
    if any(p.startswith(".segregator") for p in parts) or parts[0] == TRASH.rstrip("/"):
        raise ValueError(f"{name!r} is reserved for the tool's own files")
    return clean


def _top(scores: dict[str, float], n: int = 3) -> dict[str, float]:
    """The n best categories' scores, rounded: what a preview shows (a plan item stays small)."""
    return {k: round(v, 4) for k, v in sorted(scores.items(), key=lambda kv: -kv[1])[:n]}


def _output_under(source_prefix: str, folder: str) -> str:
    folder = folder.strip()
    if folder.startswith("/"):
        return normalise_prefix(check_folder_name(folder.lstrip("/")))
    return normalise_prefix(normalise_prefix(source_prefix) + check_folder_name(folder))


def result_options(kind: str, params: dict) -> dict:
    """A job's options that decide its results (two jobs with the same made the same plan): not where it ran;
    nor, but for matching by reference ("similar"), the matching thresholds (similarity.*), which no other
    analysis reads."""
    out = {k: v for k, v in params.items() if k not in ("source", "cluster")}
    if kind != "similar" and isinstance(out.get("settings"), dict):
        out["settings"] = {k: v for k, v in out["settings"].items() if not k.startswith("similarity.")}
    return out


def plan_categories(plan: MovePlan) -> list[str]:
    """The output folders a classification plan's items may be given: its classifier's categories (the nine,
    or a taught classifier's) and no_image."""
    return [str(c) for c in plan.extra.get("categories", [])] or sorted(OUTPUT_FOLDERS)


def edit_plan(plan: MovePlan, keep: Sequence[str] = (), recategorise: dict[str, str] | None = None) -> MovePlan:
    """A copy of a plan with the user's edits: `keep` sources stay where they are; `recategorise` maps a
    source to another output folder (one of plan_categories(plan)) of a classification plan."""
    recategorise = recategorise or {}
    unknown = set(recategorise.values()) - set(plan_categories(plan))
    if unknown:
        raise ValueError(f"unknown category {sorted(unknown)[0]!r}")
    keep = set(keep)
    items = []
    for item in plan.items:
        new = dataclasses.replace(item, scores=dict(item.scores))
        if item.source in recategorise and plan.kind == "classify" and item.action != "keep":
            new.category = recategorise[item.source]
            new.destination = _dest(plan.output_prefix, new.category, item.source)
            new.reason = f"set to {new.category} by the user"
            new.confidence = None  # the model's was for the category it chose
        if item.source in keep and item.action != "keep":
            new.action, new.destination, new.reason = "keep", item.source, "kept by the user"
        items.append(new)
    return MovePlan(plan.kind, dict(plan.storage), plan.source_prefix, plan.output_prefix, items,
                    plan.created_at, dict(plan.extra))
