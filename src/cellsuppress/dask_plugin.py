"""The Dask worker plugin of :class:`~cellsuppress.executor.DaskExecutor`: a ``worker_init`` run
on each worker of a ``dask.distributed`` cluster, on those there now and on those that join while
it is registered. Imported only when a Dask client is given (it imports ``distributed``, the
optional ``dask`` extra)."""
from __future__ import annotations

import os
from collections.abc import Callable

from distributed.diagnostics.plugin import WorkerPlugin

PREFIX = "cellsuppress-worker-init"


def plugin_name(worker_init: Callable) -> str:
    """One name per function, the same in every process: registering it again replaces the
    plugin instead of adding one more, so a run that ended without unregistering (its process
    killed) leaves at most one behind on the scheduler, and the next run's registration takes it
    over."""
    module = getattr(worker_init, "__module__", None) or "?"
    name = getattr(worker_init, "__qualname__", None) or type(worker_init).__name__
    return f"{PREFIX}:{module}.{name}"


class WorkerInit(WorkerPlugin):
    """Runs ``worker_init()`` as it is attached to a worker, except on a worker that lives in the
    process that registered it (a ``LocalCluster(processes=False)``): ``make_executor`` never
    runs ``worker_init`` in the caller's own process."""

    def __init__(self, worker_init: Callable, caller_pid: int | None = None):
        self.worker_init = worker_init
        self.caller_pid = os.getpid() if caller_pid is None else caller_pid

    def setup(self, worker) -> None:
        if os.getpid() != self.caller_pid:
            self.worker_init()
