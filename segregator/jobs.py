"""The three jobs (classify, by reference, placeholders) as plans, and running a plan with its log event.

The UI and the CLI both call these; neither holds job logic of its own.
"""

from __future__ import annotations

import posixpath
import dataclasses

import numpy as np
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .analysis import AnalysisResult, ProgressCallback, analyse_objects, image_objects
from .loading import is_image_name, load_image
from .plan import MovePlan, PlanItem
from .runs import (R2_NOT_CONFIGURED, TRASH, empty_trash, resume, run_plan, storage_for_record, trash_keys,  # noqa: F401
                   trash_plan, undo, undo_plan, undo_target)
from .settings import CATEGORIES, NO_IMAGE, Settings
from .similarity import Reference, SimilarityResult, find_similar
from .r2 import R2Config, R2Storage, parse_r2_url
from .storage import LocalStorage, ObjectInfo, Storage, normalise_prefix

OUTPUT_FOLDERS = set(CATEGORIES) | {NO_IMAGE}


def open_source(spec: str, r2_config: R2Config | None = None) -> tuple[Storage, str]:
    """A storage and prefix for a CLI/UI source: 'r2://BUCKET/PREFIX' (configuration from the environment
    unless given), or a local folder path (its own root, prefix '')."""
    if spec.startswith("r2://"):
        bucket, prefix = parse_r2_url(spec)
        config = r2_config or R2Config.from_env()
        if config is None:
            raise ValueError(R2_NOT_CONFIGURED)
        storage = R2Storage(config, bucket)
        storage.check_bucket()
        return storage, prefix
    return LocalStorage(spec), ""


def storage_for_plan(plan: MovePlan, r2_config: R2Config | None = None) -> Storage:
    """Reopen the storage a plan was made on. An R2 plan is refused on another endpoint than its own."""
    return storage_for_record(plan.storage, r2_config)


def storage_record(storage: Storage) -> dict[str, str]:
    return storage.record()


def thumbnail_jpeg(storage: Storage, key: str, size: int = 160) -> bytes | None:
    """A small JPEG of one object for previews; None when it cannot be read or decoded."""
    import io

    try:
        image = load_image(storage.read(key), size).image
    except (OSError, ValueError):
        return None
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def faces_in(storage: Storage, key: str) -> tuple:
    """Faces in one object's working image, as (x, y, w, h) fractions; () when there are none or it cannot
    be read."""
    from .faces import detect_faces
    from .loading import ImageLoadError

    try:
        return detect_faces(load_image(storage.read(key), Settings().loader.working_size).image)
    except (OSError, ImageLoadError):
        return ()


def load_reference(data: bytes, settings: Settings = Settings()) -> Reference:
    """A reference image (its bytes) prepared for search; ImageLoadError when unreadable."""
    loaded = load_image(data, settings.loader.working_size, settings.loader.max_pixels)
    reference = Reference.from_image(loaded.image, settings.similarity.thumb_size)
    if settings.similarity.min_embedding_similarity > 0:
        from . import learned

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
) -> Iterator[AnalysisResult]:
    """analyse_source() as a stream, in listing order: a chunk at a time is analysed, so a caller that keeps
    only what it needs of each result (a plan item) holds memory flat however large the folder or bucket."""
    settings = checked_settings(settings)
    objects = image_objects(storage, prefix, recursive, exclude=[TRASH, normalise_prefix(prefix) + TRASH])
    problems = [o for o in objects if o.problem]  # symbolic links: listed with their reason, never read
    objects = [o for o in objects if not o.problem]
    total = len(objects) + len(problems)
    if progress:
        progress(0, total)
    store = sid = digest = None
    if cache and objects:
        from .cache import AnalysisCache, settings_digest, storage_id

        store, sid = AnalysisCache(), storage_id(storage)
        digest = settings_digest(settings, examples, placeholders)
    done = 0
    for o in problems:
        yield AnalysisResult(key=o.key, size=o.size, error=o.problem)
        done += 1
    while objects:
        chunk = objects[:CHUNK]
        del objects[:CHUNK]  # what is done leaves memory
        hits = store.get_many(sid, chunk, digest) if store else {}
        misses = [o for o in chunk if o.key not in hits]
        base = done + len(hits)

        def shifted(n: int, _total: int, base=base) -> None:
            if progress and n:
                progress(base + n, total)

        fresh = analyse_objects(storage, misses, settings, examples, workers, shifted, placeholders) if misses else []
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


def teach(storage: Storage, prefix: str = "", progress: ProgressCallback | None = None,
          workers: int | None = None, cache: bool = True):
    """Learn a classifier from labelled examples: one subfolder of prefix per category (the folder's name is
    the category), images anywhere below it. Returns (TaughtModel, {category: examples used}, errors)."""
    from . import learned

    if not learned.available():
        raise ValueError("teaching needs onnxruntime and the image model file segregator/models/efficientnet_lite0.onnx")
    prefix = normalise_prefix(prefix)
    settings = Settings().with_overrides({"classifier.backend": "learned", "classifier.keep_embedding": True})
    embeddings, labels, errors = [], [], []
    counts: dict[str, int] = {}
    for r in iter_analysis(storage, prefix, settings, progress=progress, workers=workers, placeholders=False, cache=cache):
        rest = r.key[len(prefix):]
        if "/" not in rest or rest.startswith(TRASH):
            continue  # loose files at the top: no category
        category = rest.split("/", 1)[0]
        if not r.ok or r.embedding is None or r.levels is None:
            errors.append({"key": r.key, "error": r.error or "no embedding"})
            continue
        embeddings.append(learned.teach_features(r.embedding, r.levels))
        labels.append(category)
        counts[category] = counts.get(category, 0) + 1
    if len(counts) < 2:
        raise ValueError(f"teaching needs at least two category subfolders with images under {prefix or 'the folder'} "
                         f"(found: {', '.join(sorted(counts)) or 'none'})")
    import numpy as np

    return learned.fit(np.stack(embeddings), labels), dict(sorted(counts.items())), errors


def models_dir() -> Path:
    """Where taught classifiers are kept: SEGREGATOR_MODELS_DIR, else segregator_models/ next to the session log."""
    import os

    from .session_log import default_log_path

    configured = os.environ.get("SEGREGATOR_MODELS_DIR")
    return Path(configured) if configured else default_log_path().resolve().parent / "segregator_models"


def taught_models() -> list[Path]:
    folder = models_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def taught_model_path(name: str) -> Path:
    """Where the app keeps a classifier taught under `name` (letters, digits, '-', '_' and spaces kept)."""
    safe = "".join(ch for ch in name if ch.isalnum() or ch in "-_ ").strip() or "my_categories"
    return models_dir() / f"{safe}.json"


def save_taught_model(model, path: Path) -> Path:
    """Write a taught classifier (JSON) atomically; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(model.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def checked_settings(settings: Settings) -> Settings:
    """Settings with the classifier backend resolved ("auto") and checked before any image is read:
    ValueError, with what to do, when the model or a taught classifier cannot be used."""
    import os

    from . import learned

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


def _with_version(result: AnalysisResult, obj: ObjectInfo) -> AnalysisResult:
    result.version = obj.version
    return result


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


def _top(scores: dict[str, float], n: int = 3) -> dict[str, float]:
    """The n best categories' scores, rounded: what a preview shows (a plan item stays small)."""
    return {k: round(v, 4) for k, v in sorted(scores.items(), key=lambda kv: -kv[1])[:n]}


@dataclass(frozen=True)
class ReferenceMatch:
    result: AnalysisResult
    similarity: SimilarityResult | None   # None when the image could not be analysed


def match_reference(reference: Reference, results: Sequence[AnalysisResult], settings: Settings = Settings()) -> list[ReferenceMatch]:
    """Compare every analysed image with the reference (vectorised), in input order."""
    ok = [r for r in results if r.ok]
    sims = iter(find_similar(reference, [r.fingerprint for r in ok], settings.similarity, [r.embedding for r in ok]))
    return [ReferenceMatch(r, next(sims) if r.ok else None) for r in results]


def reference_plan(
    storage: Storage, matches: Sequence[ReferenceMatch], source_prefix: str = "", output_folder: str = "similar",
) -> MovePlan:
    """Only the matches move into output_folder (relative to the source prefix unless it starts with '/');
    everything else is kept where it is."""
    output = _output_under(source_prefix, output_folder)
    items = []
    for m in matches:
        r, s = m.result, m.similarity
        if s is None:
            items.append(_keep(r, f"not analysed: {r.error}"))
            continue
        scores = {"hamming": s.hamming, "dhash_distance": s.dhash_distance, "pixel_similarity": s.pixel_similarity}
        if s.embedding_similarity is not None:
            scores["embedding_similarity"] = s.embedding_similarity
        if s.match:
            reason = f"matches reference (pHash distance {s.hamming}, pixel similarity {s.pixel_similarity:.2f}"
            if s.embedding_similarity is not None:
                reason += f", content similarity {s.embedding_similarity:.2f}"
            items.append(_item(r, _dest(output, "", r.key), reason + ")", None, s.pixel_similarity, scores))
        else:
            items.append(PlanItem(r.key, r.key, "keep",
                                  f"no match (pHash distance {s.hamming}, pixel similarity {s.pixel_similarity:.2f})",
                                  None, s.pixel_similarity, scores))
    return MovePlan("similar", storage_record(storage), normalise_prefix(source_prefix), output, items)


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


def gallery_listing(storage: Storage, folder: str) -> tuple[list[str], list[str]]:
    """(subfolders, image keys) directly in a folder, for browsing; the trash is not shown."""
    folder = normalise_prefix(folder)
    subfolders = [f for f in storage.list_folders(folder) if f != TRASH and not f.endswith("/" + TRASH)]
    images = [o.key for o in storage.list(folder, recursive=False) if is_image_name(o.key)]
    return subfolders, images


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
        if item.source in keep and item.action != "keep":
            new.action, new.destination, new.reason = "keep", item.source, "kept by the user"
        items.append(new)
    return MovePlan(plan.kind, dict(plan.storage), plan.source_prefix, plan.output_prefix, items,
                    plan.created_at, dict(plan.extra))


def _output_under(source_prefix: str, folder: str) -> str:
    folder = folder.strip()
    if folder.startswith("/"):
        return normalise_prefix(check_folder_name(folder.lstrip("/")))
    return normalise_prefix(normalise_prefix(source_prefix) + check_folder_name(folder))
