"""Where the analysis runs. An executor takes chunks of object keys and gives back one result per object:
the process pool of this machine (the default), or a Dask cluster (`--cluster tcp://HOST:8786`,
SEGREGATOR_DASK_SCHEDULER, or `local:N` for a scheduler and N worker processes started here).

On a cluster the workers do the reading: a task carries the storage's record (folder path, or bucket and
endpoint host, never a key) and the object keys; each worker process opens the storage from its own
environment (R2_ENDPOINT / R2_ACCESS_KEY / R2_SECRET_KEY, or the same folder path) and keeps it. The settings,
the reference images and a taught classifier travel once per worker in a WorkerPlugin, which also loads the
image model and the face detector there, once. This process keeps a bounded number of tasks in flight and
hands each result on as it arrives (the caller caches it and plans it), so its memory does not grow with the
collection. A worker lost mid-run: the scheduler runs its tasks again elsewhere; each task's result is taken
once, so nothing is counted twice.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import Sequence

from .analysis import WORKER_LOST, AnalysisResult, ProgressCallback, analyse_objects, default_workers
from .settings import Settings
from .similarity import Reference
from .storage import ObjectInfo, Storage

SCHEDULER_ENV = "SEGREGATOR_DASK_SCHEDULER"
CLUSTER_BATCH = 12      # objects per cluster task from a folder: ~0.25 s of work on a core for 3 MP JPEGs,
                        # against a few ms of scheduling; small, so no worker idles long at the end of a chunk
CLUSTER_BATCH_NETWORK = 32  # from a bucket: a task's reads start together and overlap its analysis, but the
                            # first waits a round trip: fewer, larger tasks (0.81 of the pool at 12, 0.93 at 24)
NO_WORKERS_WAIT_FACTOR = 4   # a pass on a cluster left with no worker waits this many connect timeouts
WAIT_STEP = 5            # seconds between checks of a cluster that returns nothing
IN_FLIGHT_PER_THREAD = 3  # tasks queued per worker thread: none idles between two tasks, few wait


class ClusterError(RuntimeError):
    """The cluster cannot do the pass: its scheduler is unreachable, or a worker cannot open the storage."""

    expected = True  # a job that fails with it shows its message; no traceback in the server's log


class Executor(ABC):
    """Runs the analysis of chunks of objects; `chunk` is how many objects the caller should hand over at a
    time (looked up in the cache, analysed, cached together) to keep every worker busy."""

    chunk = 1000

    @abstractmethod
    def analyse(self, storage: Storage, objects: Sequence[ObjectInfo], settings: Settings,
                examples: Sequence[Reference] = (), placeholders: bool = True,
                progress: ProgressCallback | None = None) -> list[AnalysisResult]:
        """One result per object, in input order; a bad image is a per-file error, never an exception."""


class PoolExecutor(Executor):
    """This machine's worker processes (analysis.analyse_objects): kept started between passes."""

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else max(1, workers)

    def analyse(self, storage, objects, settings, examples=(), placeholders=True, progress=None):
        return analyse_objects(storage, objects, settings, examples, self.workers, progress, placeholders)


def cluster_spec(spec: str | None) -> str | None:
    """The cluster to use: the given spec, else SEGREGATOR_DASK_SCHEDULER, else None (this machine's pool).
    ValueError for a spec that is neither 'local:N' nor a scheduler address."""
    spec = (spec if spec is not None else os.environ.get(SCHEDULER_ENV, "")).strip()
    if not spec or spec in ("pool", "none"):
        return None
    if spec.startswith("local:"):
        n = spec[len("local:"):]
        if not n.isdigit() or not 1 <= int(n) <= 256:
            raise ValueError(f"--cluster local:N needs a number of worker processes, not {n!r}")
        return spec
    if "://" not in spec:
        spec = "tcp://" + spec
    spec = spec.rstrip("/")
    scheme, _, rest = spec.partition("://")
    host, _, port = rest.rpartition(":")
    if (scheme not in ("tcp", "tls", "ws", "wss") or not host or not port.isdigit() or not 0 < int(port) < 65536
            or any(c in host for c in "@/?# \t")):
        raise ValueError(f"not a Dask scheduler address: {spec!r} (expected tcp://HOST:8786 or local:N)")
    if scheme in ("tls", "wss"):
        import dask

        if not dask.config.get("distributed.comm.tls.ca-file", None):
            raise ValueError(f"{scheme}:// needs Dask's TLS settings (distributed.comm.tls.ca-file and the client's "
                             "certificate, in the Dask configuration)")
    return spec


def open_executor(cluster: str | None = None, workers: int | None = None) -> Executor:
    """The executor for a --cluster value (see cluster_spec); this machine's pool when there is none."""
    spec = cluster_spec(cluster)
    return PoolExecutor(workers) if spec is None else DaskExecutor(spec)


# ---------------------------------------------------------------------------------------------- Dask

_CLIENTS: dict = {}        # spec -> (client, cluster or None): one per process, kept for the next pass
_CLIENTS_LOCK = threading.Lock()
_REGISTERED: dict = {}  # scheduler id -> names of the plugins installed on it
_BUSY: dict[str, int] = {}  # spec -> passes running on it now (a local cluster in use is never replaced)


def connect_timeout() -> float:
    """Seconds to wait for a scheduler to answer (SEGREGATOR_DASK_TIMEOUT, default 15)."""
    try:
        return max(1.0, float(os.environ.get("SEGREGATOR_DASK_TIMEOUT") or 15))
    except ValueError:
        return 15.0


def no_workers_wait() -> float:
    """Seconds a pass waits for a cluster with no worker to get one: four times connect_timeout()."""
    return NO_WORKERS_WAIT_FACTOR * connect_timeout()


class DaskExecutor(Executor):
    def __init__(self, spec: str):
        self.spec = spec

    @property
    def client(self):
        return _client(self.spec)

    @property
    def threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    @property
    def chunk(self) -> int:
        """Enough tasks per chunk for every worker thread, several times over. A local cluster's size is known
        without starting it (a pass that finds everything in the cache starts none)."""
        threads = int(self.spec[6:]) if self.spec.startswith("local:") else self.threads
        return max(1000, threads * IN_FLIGHT_PER_THREAD * CLUSTER_BATCH_NETWORK * 2)

    def analyse(self, storage, objects, settings, examples=(), placeholders=True, progress=None):
        with _CLIENTS_LOCK:
            _BUSY[self.spec] = _BUSY.get(self.spec, 0) + 1
        try:
            return self._analyse(storage, objects, settings, examples, placeholders, progress)
        finally:
            with _CLIENTS_LOCK:
                _BUSY[self.spec] -= 1

    def _analyse(self, storage, objects, settings, examples, placeholders, progress):
        from ._dask_worker import analyse_task

        client = self.client
        if not client.nthreads():
            try:
                client.wait_for_workers(1, timeout=no_workers_wait())
            except TimeoutError:
                raise ClusterError(f"the Dask cluster at {self.spec} has no workers (waited {no_workers_wait():.0f} s)") from None
        name = _register(client, settings, examples, placeholders)
        record = storage.record()
        window = self.threads * IN_FLIGHT_PER_THREAD
        # a small pass in smaller tasks: every worker gets some, and the progress moves
        most = CLUSTER_BATCH_NETWORK if storage.read_threads > 1 else CLUSTER_BATCH
        batch = max(1, min(most, -(-len(objects) // window)))
        tasks = [[(o.key, o.size) for o in objects[i:i + batch]] for i in range(0, len(objects), batch)]
        results: list[list[AnalysisResult] | None] = [None] * len(tasks)
        run = uuid.uuid4().hex[:12]
        index: dict = {}
        if progress:
            progress(0, len(objects))

        ready = threading.Event()  # set whenever a task ends

        def submit(i: int):
            fut = client.submit(analyse_task, name, record, tasks[i], key=f"segregator-analyse-{run}-{i}", pure=False)
            index[fut.key] = i
            fut.add_done_callback(lambda _f: ready.set())
            return fut

        queue = iter(range(len(tasks)))
        pending = {submit(i) for _, i in zip(range(window), queue)}
        done, idle_since = 0, None
        try:
            while pending:
                finished = [f for f in pending if f.done()]
                if not finished:
                    if ready.wait(WAIT_STEP):
                        ready.clear()
                    else:  # nothing for a while: is anyone still working on it?
                        idle_since = self._check_alive(client, idle_since)
                    continue
                for fut in finished:
                    pending.discard(fut)
                    i = index.pop(fut.key)
                    results[i] = _task_result(fut, tasks[i], self.spec)
                    fut.release()
                    done += len(tasks[i])
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(submit(nxt))
                if progress:
                    progress(done, len(objects))
        except BaseException:
            # the pass stops here (the cluster cannot go on, or the job was cancelled): its tasks are withdrawn,
            # and a client that lost its cluster is closed, so nothing fires into a finished process
            try:
                client.cancel(list(pending))
            except Exception:  # noqa: BLE001 (its scheduler may be gone)
                pass
            if client.status != "running" or not client.nthreads():
                _forget(self.spec)
            raise
        return [r for chunk in results for r in chunk]

    def _check_alive(self, client, idle_since: float | None) -> float | None:
        """ClusterError when the scheduler is gone, or no worker has been there for no_workers_wait(); else
        since when the cluster has had no worker (None: it has some)."""
        if client.status != "running":
            raise ClusterError(f"lost the connection to the Dask scheduler at {self.spec}")
        if client.nthreads():
            return None
        if idle_since is None:
            return time.monotonic()
        if time.monotonic() - idle_since > no_workers_wait():
            raise ClusterError(f"every worker of the Dask cluster at {self.spec} is gone (none came back in "
                               f"{no_workers_wait():.0f} s)")
        return idle_since


def _task_result(fut, items, spec: str) -> list[AnalysisResult]:
    """A task's results; a task that killed the workers it ran on (the scheduler gave up after its retries)
    becomes a per-file error for its images. Any other failure (the worker cannot open the storage) stops the
    pass with the worker's message."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        return fut.result()
    except FutureCancelledError:
        raise ClusterError(f"lost the connection to the Dask scheduler at {spec}") from None
    except KilledWorker:
        return [AnalysisResult(key=k, size=s, error=f"{WORKER_LOST}, on every worker that tried it (out of memory?)")
                for k, s in items]
    except Exception as exc:  # noqa: BLE001 (the worker's own exception, re-raised with where it happened)
        raise ClusterError(f"a cluster worker failed: {type(exc).__name__}: {exc}") from None


def _register(client, settings: Settings, examples: Sequence[Reference], placeholders: bool) -> str:
    """Install the settings, references and models on every worker (present and future) once per set."""
    from ._dask_worker import AnalysisPlugin

    plugin = AnalysisPlugin(settings, tuple(examples), placeholders)
    registered = _REGISTERED.setdefault(client.scheduler_info().get("id") or id(client), set())  # a restarted
    # scheduler has a new id and none of the plugins
    if plugin.name not in registered:
        client.register_plugin(plugin, name=plugin.name)
        registered.add(plugin.name)
    return plugin.name


def _client(spec: str):
    with _CLIENTS_LOCK:
        held = _CLIENTS.get(spec)
        if held is not None:
            if held[0].status == "running" and (held[1] is None or held[1].alive()):
                return held[0]
            _close(*_CLIENTS.pop(spec))  # its scheduler went away: start or connect again
        from distributed import Client

        cluster = None
        try:
            if spec.startswith("local:"):
                for other in [k for k in _CLIENTS if k.startswith("local:") and not _BUSY.get(k)]:
                    _close(*_CLIENTS.pop(other))  # one local cluster at a time (a new size replaces the old)
                cluster = LocalProcesses(int(spec[6:]))
                client = Client(cluster.address, timeout=30, set_as_default=False)
                client.wait_for_workers(cluster.n, timeout=120)
            else:
                client = _connect(spec)
        except Exception as exc:  # noqa: BLE001 (whatever went wrong, the user gets one line)
            if cluster is not None:
                cluster.close()
            if isinstance(exc, ClusterError):
                raise
            raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        _CLIENTS[spec] = (client, cluster)
        return client


def _connect(spec: str):
    """A client of the scheduler at spec, within connect_timeout() whatever answers there: Dask bounds the TCP
    connect but waits for ever for the handshake of something that accepts and never speaks."""
    import logging

    from distributed import Client

    for name in ("distributed.client", "distributed.core", "distributed.comm", "distributed.batched"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the user gets ClusterError's one line instead
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = Client(spec, timeout=connect_timeout(), set_as_default=False)
        except BaseException as exc:  # noqa: BLE001 (handed to the waiting thread)
            box["error"] = exc

    thread = threading.Thread(target=connect, daemon=True, name="segregator-dask-connect")
    thread.start()
    thread.join(connect_timeout() + 5)
    if "client" in box:
        return box["client"]
    if "error" in box:
        raise box["error"]
    raise ClusterError(f"cannot reach the Dask scheduler at {spec}: nothing answered as a Dask scheduler in "
                       f"{connect_timeout():.0f} s")


class LocalProcesses:
    """`local:N`: a Dask scheduler and N single-thread worker processes started as programs of their own
    (`python -m distributed.cli.dask_scheduler` / `dask_worker`) on 127.0.0.1, no dashboard. Not a
    LocalCluster: its nanny restarts a lost worker through multiprocessing from this process, and that imports
    the running script again in the new worker (in the app: a Streamlit page). They end with this process
    (their preload watches it), or with close()."""

    def __init__(self, n: int):
        import json
        import subprocess
        import sys
        import tempfile

        self.n = n
        self.folder = tempfile.mkdtemp(prefix="segregator-dask-")
        scheduler_file = os.path.join(self.folder, "scheduler.json")
        self.log = os.path.join(self.folder, "cluster.log")
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this copy of the package, importable
        path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "SEGREGATOR_DASK_PARENT": str(os.getpid()), "PYTHONPATH": path}
        out = open(self.log, "ab")
        # a session of their own: a Ctrl-C meant for this process does not stop them under it (it closes them)
        common = dict(env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder,
                      start_new_session=True)
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", scheduler_file,
             "--preload", "segregator._dask_local"], **common)]
        deadline = time.monotonic() + 60
        while not os.path.exists(scheduler_file) or not os.path.getsize(scheduler_file):
            if self.procs[0].poll() is not None or time.monotonic() > deadline:
                self.procs[0].wait(timeout=5) if self.procs[0].poll() is not None else None
                message = f"the local Dask scheduler did not start: {self.tail()}"
                self.close()
                raise ClusterError(message)
            time.sleep(0.05)
        for _ in range(100):  # written, but perhaps not yet whole
            try:
                self.address = json.load(open(scheduler_file))["address"]
                break
            except (ValueError, KeyError):
                time.sleep(0.05)
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", scheduler_file,
             "--nworkers", str(n), "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
             "--dashboard-address", "127.0.0.1:0", "--local-directory", self.folder, "--death-timeout", "60",
             "--preload-nanny", "segregator._dask_local"], **common))
        out.close()

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def tail(self) -> str:
        try:
            return open(self.log, errors="replace").read()[-600:].strip() or "no output"
        except OSError:
            return "no output"

    def close(self) -> None:
        import shutil
        import subprocess

        for p in reversed(self.procs):  # the workers, then the scheduler
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _forget(spec: str) -> None:
    with _CLIENTS_LOCK:
        held = _CLIENTS.pop(spec, None)
    if held is not None:
        _close(*held)


def _close(client, cluster) -> None:
    try:
        if cluster is not None and cluster.alive():
            client.shutdown()  # the scheduler closes its workers: quicker than a signal to each
        client.close()
    except Exception:  # noqa: BLE001 (its scheduler may be gone already)
        pass
    if cluster is not None:
        cluster.close()


def close_clients() -> None:
    with _CLIENTS_LOCK:
        for client, cluster in _CLIENTS.values():
            _close(client, cluster)
        _CLIENTS.clear()


atexit.register(close_clients)
