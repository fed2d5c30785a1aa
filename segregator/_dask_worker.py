"""What runs on a Dask worker (segregator.compute sends it): the plugin that installs a pass's settings and
loads the models once per worker process, and the task that reads and analyses a batch of objects."""

from __future__ import annotations

import json
import os

from distributed import WorkerPlugin

from .analysis import AnalysisResult
from .cache import settings_digest
from .settings import Settings
from .storage import ObjectInfo, Storage

_WORKER_CONFIGS: dict = {}   # plugin name -> (settings, examples, placeholders)
_WORKER_STORAGES: dict = {}  # storage record (JSON) -> storage, opened from this worker's environment


class AnalysisPlugin(WorkerPlugin):
    """The settings, reference images and a taught classifier's file for this pass, and the models loaded once
    per worker process. Carries no credential."""

    def __init__(self, settings: Settings, examples: tuple, placeholders: bool):
        backend = settings.classifier.backend
        self.taught = None
        if backend not in ("heuristic", "learned", "auto") and os.path.isfile(backend):
            with open(backend, "rb") as fh:
                self.taught = fh.read()  # the worker may be another machine: the file travels with the plugin
        self.settings, self.examples, self.placeholders = settings, examples, placeholders
        # the analysis cache's digest: settings that change no result (plan-time thresholds) share one plugin
        self.name = "segregator-analysis-" + settings_digest(settings, examples, placeholders)[:16]

    def setup(self, worker=None) -> None:
        import dataclasses
        import tempfile

        settings = self.settings
        if self.taught is not None:
            folder = getattr(worker, "local_directory", None) or tempfile.gettempdir()
            path = os.path.join(folder, self.name + ".taught.json")
            with open(path, "wb") as fh:
                fh.write(self.taught)
            settings = dataclasses.replace(settings, classifier=dataclasses.replace(settings.classifier, backend=path))
        _WORKER_CONFIGS[self.name] = (settings, self.examples, self.placeholders)
        from .analysis import _large_buffers_kept

        _large_buffers_kept()  # Dask's worker environment would cost the analysis a fifth
        if settings.classifier.backend != "heuristic":
            from . import learned

            if learned.available():
                learned._session(str(learned.MODEL_FILE))   # the image model, once per worker process
        if settings.faces.detect != "off":
            from . import faces

            faces.available()   # loads the cascade
            faces._gate()       # and the network in front of it

    def teardown(self, worker=None) -> None:
        _WORKER_CONFIGS.pop(self.name, None)


def _worker_storage(record: dict) -> Storage:
    """The storage a task names, opened from this worker's own environment and kept for the next task."""
    key = json.dumps(record, sort_keys=True)
    storage = _WORKER_STORAGES.get(key)
    if storage is None:
        from .jobs.sources import r2_config
        from .runs import storage_for_record

        storage = _WORKER_STORAGES[key] = storage_for_record(record, r2_config() if record.get("kind") == "r2" else None)
    return storage


def analyse_task(name: str, record: dict, items: list[tuple[str, int]]) -> list[AnalysisResult]:
    """One cluster task: read and analyse these objects on this worker."""
    from . import faults
    from .analysis import analyse_chunk

    faults.hit("analysis-batch")
    try:
        settings, examples, placeholders = _WORKER_CONFIGS[name]
    except KeyError:
        raise RuntimeError("this worker has not got the analysis plugin (is the same segregator version "
                           "installed on every worker?)") from None
    return analyse_chunk(_worker_storage(record), [ObjectInfo(k, s) for k, s in items], settings, examples, placeholders)
