"""The kinds of job the runner knows, each a function (context, parameters) -> result. Parameters and results
are plain JSON (never a secret: R2 credentials are read where the job runs); uploaded images are files in the
state folder; an analysis writes its plan to a PlanDB file the page then reads a page at a time."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..plandb import PlanDB
from ..session_log import state_dir
from ..settings import Settings
from .runner import JobContext, job_kind

_LOADED = False


def load_kinds() -> None:
    """The kinds register themselves when this module is imported (the runner imports it lazily)."""
    global _LOADED
    _LOADED = True


def plans_dir() -> Path:
    return state_dir() / "plans"


def save_upload(data: bytes, name: str = "upload") -> str:
    """Keep an uploaded image (a reference, an example) as a file a job can read; returns its path."""
    folder = state_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix.lower()[:8]
    path = folder / (hashlib.sha256(data).hexdigest()[:32] + suffix)
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def uploaded(name: str) -> Path | None:
    """An upload kept by save_upload, by its file name (a page keeps the name in its URL); None when there is
    no such file."""
    folder = state_dir() / "uploads"
    path = folder / Path(name).name if name else None
    return path if path is not None and path.is_file() else None


def _source(params: dict):
    from .sources import open_source, r2_config

    return open_source(params["source"], r2_config())


def _settings(params: dict) -> Settings:
    from .analyse import checked_settings

    return checked_settings(Settings().with_overrides(params.get("settings", {})))


def _examples(params: dict, settings: Settings):
    from .analyse import load_reference

    return tuple(load_reference(Path(p).read_bytes(), settings) for p in params.get("examples", []))


def _analysis(ctx: JobContext, storage, prefix: str, settings: Settings, params: dict, placeholders: bool = True,
              examples=()):
    from .analyse import iter_analysis

    ctx.set_phase("listing")
    return iter_analysis(storage, prefix, settings, recursive=params.get("recursive", True), examples=examples,
                         progress=_phased(ctx, "analysing", "analysing (workers starting)"), placeholders=placeholders,
                         listing=lambda n: ctx(n, 0),
                         cluster=params.get("cluster"))


def _phased(ctx: JobContext, phase: str, starting: str | None = None):
    """A progress callback that names the job's phase at its first call (when that work really starts); with
    `starting`, that name stands until the first item is done (workers start and load their models first: the
    page shows why the count has not moved yet and there is no rate)."""
    shown = []

    def progress(done: int, total: int) -> None:
        now = phase if done or not starting or phase in shown else starting
        if not shown or shown[-1] != now:
            shown.append(now)
            ctx.set_phase(now)
        ctx(done, total)

    return progress


def _plan_path(ctx: JobContext) -> Path:
    return plans_dir() / f"job-{ctx.job_id}.sqlite"


@job_kind("classify")
def classify_job(ctx: JobContext, params: dict) -> dict:
    from .classify import classification_header, classification_items, classifier_categories

    storage, prefix = _source(params)
    settings = _settings(params)
    header = classification_header(storage, prefix, params.get("output"),
                                   classifier_categories(settings.classifier.backend))
    results = _analysis(ctx, storage, prefix, settings, params, examples=_examples(params, settings))
    db = PlanDB.create(_plan_path(ctx), header, classification_items(results, header, params.get("faces_folder"),
                                                                    settings.classifier.min_familiarity))
    return {"plan": str(db.path), "summary": db.summary()}


@job_kind("similar")
def similar_job(ctx: JobContext, params: dict) -> dict:
    from .analyse import load_reference
    from .reference import iter_matches, reference_header, reference_items

    storage, prefix = _source(params)
    settings = _settings(params)
    reference = load_reference(Path(params["reference"]).read_bytes(), settings)
    header = reference_header(storage, prefix, params.get("output") or "similar")
    results = _analysis(ctx, storage, prefix, settings, params, placeholders=False)
    db = PlanDB.create(_plan_path(ctx), header, reference_items(iter_matches(reference, results, settings), header))
    return {"plan": str(db.path), "summary": db.summary()}


@job_kind("placeholders")
def placeholders_job(ctx: JobContext, params: dict) -> dict:
    from .placeholders import placeholder_header, placeholder_items

    storage, prefix = _source(params)
    settings = _settings(params)
    header = placeholder_header(storage, prefix, params.get("output") or "no_image")
    results = _analysis(ctx, storage, prefix, settings, params, examples=_examples(params, settings))
    db = PlanDB.create(_plan_path(ctx), header, placeholder_items(results, header))
    return {"plan": str(db.path), "summary": db.summary()}


@job_kind("duplicates")
def duplicates_job(ctx: JobContext, params: dict) -> dict:
    """Groups of copies over the source (recursive): analysis (cached hashes are read, not recomputed),
    grouping, and the plan: keepers stay, the other copies go to <to>/<group>/ or the trash."""
    from .duplicates import duplicate_settings, duplicates_header, group_results

    storage, prefix = _source(params)
    tier = params.get("tier", "near")
    dup = duplicate_settings(prefix, tier, params.get("keep"), params.get("reference_folders", ()),
                             params.get("to") or "duplicates", params.get("threshold"), params.get("pixel_threshold"),
                             params.get("embedding_threshold"))
    overrides = dict(params.get("settings", {}))
    if tier == "similar":  # the image model's embeddings are needed
        overrides["similarity.min_embedding_similarity"] = dup.min_embedding_similarity
    settings = _settings({"settings": overrides})
    results = _analysis(ctx, storage, prefix, settings, params, placeholders=False)
    grouped = group_results(results, dup, progress=_phased(ctx, "grouping"))
    header = duplicates_header(storage, prefix, params.get("to") or "duplicates", dup)
    header.extra.update(group_count=grouped.groups, image_count=grouped.in_groups)
    db = PlanDB.create(_plan_path(ctx), header, grouped.items(header))
    return {"plan": str(db.path), "summary": db.summary(), "groups": grouped.groups, "images": grouped.in_groups}


@job_kind("teach")
def teach_job(ctx: JobContext, params: dict) -> dict:
    from .teach import save_taught_model, taught_model_name, taught_model_path, teach

    storage, _prefix = _source(params)
    ctx.set_phase("embedding examples")
    model, counts, errors = teach(storage, params.get("examples_prefix", ""), progress=ctx, cluster=params.get("cluster"))
    path = save_taught_model(model, taught_model_path(params.get("name") or "my_categories"))
    return {"model": str(path), "name": taught_model_name(path), "categories": counts, "errors": errors[:100]}


def _run_result(report, event) -> dict:
    """A run's outcome as a job result; a run stopped by a cancel makes the job read as cancelled."""
    return {"run_id": event["extra"]["run_id"], "summary": report.summary(), "stopped": report.stopped,
            "errors": report.errors[:200], "copy": report.copy_mode, "event": event,
            "cancelled": bool(report.stopped and report.stopped.startswith("cancelled"))}


@job_kind("apply")
def apply_job(ctx: JobContext, params: dict) -> dict:
    """Apply a plan (the app's PlanDB, or a plan file). With `check`, first compare its sources with the
    storage: when some are gone or changed since the analysis, nothing starts and the result says so.
    Resumed after an interruption, the job resumes its run instead of starting another."""
    from ..plan import PlanFile
    from ..runs import resume, run_plan, storage_for_record
    from .sources import r2_config

    job = ctx.store.get(ctx.job_id)
    if job.run_id is not None:
        ctx.set_phase("resuming")
        return _run_result(*resume(job.run_id, progress=ctx, r2_config=r2_config()))
    path = params["plan"]
    plan = PlanDB(path) if path.endswith(".sqlite") else PlanFile(path)
    storage = storage_for_record(plan.plan.storage, r2_config())
    if params.get("check") and isinstance(plan, PlanDB):
        ctx.set_phase("checking the plan against the storage")
        changed = plan.changed_since(storage, progress=ctx)
        if changed["gone"] or changed["changed"]:
            return {"stale": changed}
    ctx.set_phase("copying" if params.get("copy") else "moving")
    return _run_result(*run_plan(plan, storage, copy=bool(params.get("copy")), progress=ctx, on_run=ctx.set_run))


@job_kind("resume")
def resume_job(ctx: JobContext, params: dict) -> dict:
    from ..runs import resume
    from .sources import r2_config

    ctx.set_phase("resuming")
    return _run_result(*resume(params.get("run_id"), progress=ctx, r2_config=r2_config(), on_run=ctx.set_run))


@job_kind("undo")
def undo_job(ctx: JobContext, params: dict) -> dict:
    from ..runs import resume, undo
    from .sources import r2_config

    job = ctx.store.get(ctx.job_id)
    ctx.set_phase("undoing")
    if job.run_id is not None:  # resumed after an interruption: finish that undo run
        return _run_result(*resume(job.run_id, progress=ctx, r2_config=r2_config()))
    return _run_result(*undo(params.get("run_id"), progress=ctx, r2_config=r2_config(), on_run=ctx.set_run))


@job_kind("empty_trash")
def empty_trash_job(ctx: JobContext, params: dict) -> dict:
    from ..runs import empty_trash

    storage, _prefix = _source(params)
    ctx.set_phase("emptying the trash")
    return {"event": empty_trash(storage)}


@job_kind("search")
def search_job(ctx: JobContext, params: dict) -> dict:
    """Bring the source's search store up to date (the analysis, cached), query it by tags or by an uploaded
    image, and store the hits as a plan: each moves (or is copied) to the output folder."""
    from .search import describe, find, open_store, search_embedding, search_header, search_items, search_settings, update_store

    storage, prefix = _source(params)
    settings = search_settings(_settings(params))
    like = search_embedding(params["like"], settings, "the uploaded image") if params.get("like") else None
    store = open_store(storage)
    try:
        errors: list = []
        counts = update_store(store, _analysis(ctx, storage, prefix, settings, params), prefix,
                              params.get("recursive", True), errors)
        ctx.set_phase("searching")
        tag, category, faces = params.get("tag", ""), params.get("category") or None, bool(params.get("faces"))
        hits = find(store, prefix, int(params.get("top", 50)), tag, category, faces, like,
                    float(params.get("min_score", 0.0)))  # jobs from before the minimum: none
        query = describe(tag, category, faces, "the uploaded image" if like is not None else None)
    finally:
        store.close()
    header = search_header(storage, prefix, params.get("output") or "search_results")
    db = PlanDB.create(_plan_path(ctx), header, search_items(hits, header, query, bool(params.get("copy"))))
    return {"plan": str(db.path), "summary": db.summary(), "store": counts, "not_analysed": len(errors)}
