"""`dask scheduler --preload tests.cluster_preload` (tests/test_cluster.py): the scheduler keeps every task's
spec as it receives it, pickled and as its repr, for the test to search for the secret."""

import pickle

from distributed.diagnostics.plugin import SchedulerPlugin


class TaskSpecs(SchedulerPlugin):
    name = "test-task-specs"

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.specs: list[bytes] = []

    def transition(self, key, start, finish, *args, **kwargs):
        ts = self.scheduler.tasks.get(key)
        if ts is not None and start == "released" and finish == "waiting" and ts.run_spec is not None:
            self.specs.append(pickle.dumps(ts.run_spec) + repr(ts.run_spec).encode())


def dask_setup(scheduler):
    scheduler.add_plugin(TaskSpecs(scheduler))
