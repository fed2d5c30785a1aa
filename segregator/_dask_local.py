"""Preloaded into the scheduler and the worker nannies of a `--cluster local:N` (compute.LocalProcesses): they
close when the process that started them is gone (killed, crashed), so no cluster is left behind."""

from __future__ import annotations

import os


def dask_setup(server) -> None:
    from tornado.ioloop import PeriodicCallback

    parent = int(os.environ.get("SEGREGATOR_DASK_PARENT") or 0)
    if not parent:
        return

    def check() -> None:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)  # the parent is gone: nothing is left to report to
        except PermissionError:
            pass

    PeriodicCallback(check, 2000).start()
