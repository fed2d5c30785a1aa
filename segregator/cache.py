"""The analysis cache: results kept in SQLite, keyed by (storage, key, size, mtime or ETag) and the settings,
so that a second pass over an unchanged folder or bucket decodes nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .analysis import WORKER_LOST, AnalysisResult
from .classify import Classification
from .features import Features
from .hashing import Fingerprint, PerceptualHash
from .placeholders import PlaceholderResult
from .settings import Settings
from .similarity import Reference
from .storage import ObjectInfo, Storage

FORMAT = 9  # bump when what an analysis holds, or how it is computed, changes


def cache_path() -> Path:
    """SEGREGATOR_CACHE_DIR, else $XDG_CACHE_HOME (or ~/.cache)/ai-image-segregator/analysis.sqlite."""
    folder = os.environ.get("SEGREGATOR_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = os.path.join(base, "ai-image-segregator")
    return Path(folder) / "analysis.sqlite"


def storage_id(storage: Storage) -> str:
    if storage.kind == "local":
        return f"local:{storage.root}"
    config = getattr(storage, "config", None)
    return f"{storage.kind}:{config.host if config else ''}/{storage.bucket}"


def version_of(obj: ObjectInfo) -> str:
    """What changes when the object changes: the ETag on buckets, size and mtime on disk."""
    return f"{obj.size}:{obj.etag or repr(obj.mtime)}"


def settings_digest(settings: Settings, examples: Sequence[Reference], placeholders: bool) -> str:
    h = hashlib.sha1()
    values = settings.to_dict()
    values.get("classifier", {}).pop("min_familiarity", None)  # read when the plan is made, not by the analysis
    similarity = values.get("similarity", {})
    for name in ("max_hamming", "loose_hamming", "min_pixel_similarity"):  # matching thresholds: plan time too
        similarity.pop(name, None)
    if "min_embedding_similarity" in similarity:  # the analysis only needs to know whether to embed
        similarity["min_embedding_similarity"] = similarity["min_embedding_similarity"] > 0
    h.update(json.dumps(values, sort_keys=True, default=list).encode())
    h.update(f"{FORMAT}:{placeholders}".encode())
    backend = settings.classifier.backend
    if backend not in ("auto", "heuristic", "learned") and os.path.isfile(backend):
        h.update(Path(backend).read_bytes())  # a taught classifier: retaught at the same path = other results
    if backend != "heuristic":  # the shipped heads (retrained: other categories, other placeholders)
        from .learned import HEAD_FILE, PLACEHOLDER_HEAD_FILE

        for head in (HEAD_FILE, PLACEHOLDER_HEAD_FILE) if settings.classifier.head else (PLACEHOLDER_HEAD_FILE,):
            if head.exists():
                h.update(head.read_bytes())
    for ex in examples:
        h.update(ex.fingerprint.thumb.tobytes())
    return h.hexdigest()


def _dump(r: AnalysisResult) -> str:
    data = {"size": r.size, "error": r.error, "skipped": r.skipped, "width": r.width, "height": r.height,
            "format": r.format, "digest": r.digest}
    if r.features is not None:
        data["features"] = asdict(r.features)
    if r.classification is not None:
        data["classification"] = asdict(r.classification)
    if r.placeholder is not None:
        data["placeholder"] = asdict(r.placeholder)
    if r.model_labels:
        data["model_labels"] = list(r.model_labels)
    if r.model_tags:
        data["model_tags"] = [list(t) for t in r.model_tags]
    if r.faces:
        data["faces"] = [list(f) for f in r.faces]
    for name in ("embedding", "levels"):
        if getattr(r, name) is not None:
            data[name] = base64.b64encode(getattr(r, name).astype(np.float32).tobytes()).decode()
    if r.fingerprint is not None:
        fp = r.fingerprint
        data["fingerprint"] = {"phash": fp.phash.value, "dhash": fp.dhash.value, "mirror": fp.mirror, "crop": fp.crop, "shape": list(fp.thumb.shape),
                               "thumb": base64.b64encode(fp.thumb.tobytes()).decode()}
    return json.dumps(data)


def _load(key: str, text: str) -> AnalysisResult:
    d = json.loads(text)
    r = AnalysisResult(key=key, size=d["size"], error=d["error"], skipped=d["skipped"], width=d["width"],
                       height=d["height"], format=d["format"], digest=d.get("digest", ""))
    if "features" in d:
        f = d["features"]
        f["hue_hist"] = tuple(f["hue_hist"])
        r.features = Features(**f)
    if "classification" in d:
        r.classification = Classification(**d["classification"])
    if "placeholder" in d:
        r.placeholder = PlaceholderResult(**d["placeholder"])
    r.model_labels = tuple(d.get("model_labels", ()))
    r.model_tags = tuple((str(n), float(p)) for n, p in d.get("model_tags", ()))
    r.faces = tuple(tuple(f) for f in d.get("faces", ()))
    for name in ("embedding", "levels"):
        if name in d:
            setattr(r, name, np.frombuffer(base64.b64decode(d[name]), dtype=np.float32).copy())
    if "fingerprint" in d:
        fp = d["fingerprint"]
        thumb = np.frombuffer(base64.b64decode(fp["thumb"]), dtype=np.uint8).reshape(fp["shape"])
        r.fingerprint = Fingerprint(PerceptualHash("phash", fp["phash"]), PerceptualHash("dhash", fp["dhash"]), thumb,
                                    fp.get("mirror", 0), fp.get("crop", 0))
    return r


RETRY_ERRORS = ("cannot read", WORKER_LOST)  # a read failure, a worker killed (out of memory?): try again next time


class AnalysisCache:
    """A SQLite file shared by runs; each call opens its own connection (safe across threads and processes)."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS results (storage TEXT, key TEXT, version TEXT, settings TEXT, "
                       "data TEXT, PRIMARY KEY (storage, key, settings))")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get_many(self, storage: str, objects: Sequence[ObjectInfo], settings: str) -> dict[str, AnalysisResult]:
        """Cached results for the objects whose version is unchanged."""
        wanted = {o.key: version_of(o) for o in objects}
        found: dict[str, AnalysisResult] = {}
        db = self._db()
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = db.execute(
                f"SELECT key, version, data FROM results WHERE storage = ? AND settings = ? AND key IN ({','.join('?' * len(chunk))})",
                [storage, settings, *chunk]).fetchall()
            for key, version, data in rows:
                if wanted.get(key) == version:
                    try:
                        found[key] = _load(key, data)
                    except (ValueError, KeyError, TypeError):
                        pass  # an unreadable entry is simply analysed again
        return found

    def put_many(self, storage: str, pairs: Iterable[tuple[ObjectInfo, AnalysisResult]], settings: str) -> None:
        rows = [(storage, o.key, version_of(o), settings, _dump(r)) for o, r in pairs
                if not (r.error and r.error.startswith(RETRY_ERRORS))]  # worth another try next time
        if rows:
            with self._db() as db:
                db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)", rows)
