"""Teach by example: a folder with one subfolder per category becomes a classifier."""

from __future__ import annotations

from pathlib import Path

from ..analysis import ProgressCallback
from ..runs import TRASH
from ..settings import Settings
from ..storage import Storage, normalise_prefix
from .analyse import iter_analysis


def teach(storage: Storage, prefix: str = "", progress: ProgressCallback | None = None,
          workers: int | None = None, cache: bool = True, cluster: str | None = None):
    """Learn a classifier from labelled examples: one subfolder of prefix per category (the folder's name is
    the category), images anywhere below it. Returns (TaughtModel, {category: examples used}, errors)."""
    from .. import learned

    if not learned.available():
        raise ValueError("teaching needs onnxruntime and the image model file segregator/models/efficientnet_lite0.onnx")
    prefix = normalise_prefix(prefix)
    settings = Settings().with_overrides({"classifier.backend": "learned", "classifier.keep_embedding": True})
    embeddings, labels, errors = [], [], []
    counts: dict[str, int] = {}
    for r in iter_analysis(storage, prefix, settings, progress=progress, workers=workers, placeholders=False, cache=cache,
                           cluster=cluster):
        rest = r.key[len(prefix):]
        if "/" not in rest or rest.startswith(TRASH):
            continue  # loose files at the top: no category
        category = rest.split("/", 1)[0]
        category = learned.NONE_OF_THESE if learned.is_none_folder(category) else category
        if not r.ok or r.embedding is None or r.levels is None:
            errors.append({"key": r.key, "error": r.error or "no embedding"})
            continue
        embeddings.append(learned.teach_features(r.embedding, r.levels))
        labels.append(category)
        counts[category] = counts.get(category, 0) + 1
    if len([c for c in counts if c != learned.NONE_OF_THESE]) < 2:
        raise ValueError(f"teaching needs at least two category subfolders with images under {prefix or 'the folder'} "
                         f"(found: {', '.join(sorted(counts)) or 'none'})")
    import numpy as np

    import dataclasses

    from ..cache import storage_id

    where = ({"path": str(Path(storage.root, prefix).resolve())} if storage.kind == "local"
             else {"storage": storage_id(storage), "prefix": prefix})
    model = dataclasses.replace(learned.fit(np.stack(embeddings), labels), taught_from=where)
    return model, dict(sorted(counts.items())), errors


def examples_check(storage: Storage, folder: str) -> tuple[list[str], bool]:
    """An examples folder checked before anything is analysed: the categories it would teach (its subfolders'
    names), and whether it holds other subfolders too ("none of these", hidden ones); ValueError saying why it
    cannot be taught from. The whole source is taught from only when it is named ("/")."""
    if not folder.strip():
        raise ValueError("Name the folder that holds the examples (its subfolders are the categories); `/` for the "
                         "whole source.")
    if ".." in folder.replace("\\", "/").split("/"):
        raise ValueError(f"`{folder}` is outside the source: name a folder inside it.")
    from .. import learned

    where = normalise_prefix(folder.strip().strip("/"))
    try:
        subs = [f[len(where):].rstrip("/") for f in storage.list_folders(where)]
        missing = bool(where) and not subs and next(iter(storage.list(where)), None) is None
    except (OSError, ValueError) as exc:
        raise ValueError(f"Cannot read `{folder}`: {exc}") from None
    if missing:
        raise ValueError(f"There is no folder `{folder}` in the source (nothing found under it).")
    categories = [c for c in subs if c and not c.startswith((".", TRASH.rstrip("/"))) and not learned.is_none_folder(c)]
    if len(categories) < 2:
        raise ValueError(f"`{folder}` has {len(categories)} category subfolder(s)"
                         + (f" ({', '.join(categories)})" if categories else "") + ": teaching needs at least two, "
                         "one per category, each holding example images.")
    return categories, len(categories) < len(subs)


def describe_taught(counts: dict[str, int]) -> str:
    """"3 categories from 40 images (Cats 12, …)", with the "none of these" examples said apart."""
    from ..learned import NONE_OF_THESE

    cats = {c: n for c, n in counts.items() if c != NONE_OF_THESE}
    text = (f"{len(cats)} categories from {sum(cats.values())} images "
            f"({', '.join(f'{c}: {n}' for c, n in cats.items())})")
    if counts.get(NONE_OF_THESE):
        text += f", and {counts[NONE_OF_THESE]} \"{NONE_OF_THESE}\" example(s) of what to leave where it is"
    return text


def models_dir() -> Path:
    """Where taught classifiers are kept: SEGREGATOR_MODELS_DIR, else segregator_models/ next to the session log."""
    import os

    from ..session_log import default_log_path

    configured = os.environ.get("SEGREGATOR_MODELS_DIR")
    return Path(configured) if configured else default_log_path().resolve().parent / "segregator_models"


def taught_models() -> list[Path]:
    folder = models_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def taught_model_path(name: str) -> Path:
    """Where the app keeps a classifier taught under `name`: the name kept whole in a safe file name (what
    a file name cannot hold is %-escaped; taught_model_name() reads it back)."""
    from urllib.parse import quote

    name = name.strip() or "my_categories"
    return models_dir() / f"{quote(name, safe=' -_()[],+=@')[:200]}.json"


def taught_model_name(path: Path) -> str:
    """The name a classifier was taught under, from its file name."""
    from urllib.parse import unquote

    return unquote(path.stem)


def save_taught_model(model, path: Path) -> Path:
    """Write a taught classifier (JSON) atomically; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(model.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path
