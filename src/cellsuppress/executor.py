"""Run one function over many items, in this process, in local worker processes or on Dask.

Every executor does one thing, :meth:`Executor.map`: ``map(fn, items)`` calls ``fn(item)`` for
each item and returns one :class:`Outcome` per item, in the order of the items. An exception in
one call is caught and kept in that item's outcome (its type, message and traceback), so one
failing item never stops the others; a worker process that dies (a crash, or killed for lack of
memory) costs only the item it was running. Ctrl-C stops the run: the items done keep their
outcomes and the others get an ``INTERRUPTED`` one (``get()`` raises ``KeyboardInterrupt``), so
what was done is not lost; the workers are stopped at once.

* :class:`SerialExecutor`: the calls one after the other in this process (no pool, nothing to
  pickle);
* :class:`ProcessExecutor`: a pool of local worker processes (:mod:`concurrent.futures`), kept
  from one ``map`` to the next until :meth:`Executor.close` (or the end of a ``with`` block), and
  started fresh (``forkserver`` where the platform has it, else ``spawn``), never forked from this
  process: a fork copies the state of threads it does not copy, such as the worker threads of a
  HiGHS solve this process may have run, and can deadlock the child. Solver objects are created
  inside the workers, by ``fn``. ``fn`` and the items must pickle (a function defined at the top
  of a module, :func:`functools.partial` of one), and a script that uses it needs the
  ``if __name__ == "__main__":`` guard, since the workers import the main module;
* :class:`DaskExecutor`: the tasks on a ``dask.distributed`` cluster through its ``Client``
  (the optional ``dask`` extra); a cluster whose workers run one thread each runs one solve per
  process, as the pool does. Its ``worker_init`` is a worker plugin
  (:mod:`~cellsuppress.dask_plugin`) registered on the client's cluster at the first ``map``, so
  that workers joining later run it too, and unregistered by :meth:`Executor.close`.

:func:`make_executor` picks one from ``workers`` and ``client``. This module knows nothing of
tables: the callers pass the function.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
import traceback
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from numbers import Integral
from typing import Any

from .errors import RuleError

__all__ = ["Outcome", "WorkerError", "WORKER_DIED", "INTERRUPTED", "Executor", "SerialExecutor", "ProcessExecutor",
           "DaskExecutor", "make_executor", "available_cores"]

# progress(index, outcome): called in the calling process as each item finishes, in the order they finish
Progress = Callable[[int, "Outcome"], None]


WORKER_DIED = "WorkerDied"  # the error of an item whose worker process died under it
INTERRUPTED = "KeyboardInterrupt"  # the error of an item not done when Ctrl-C stopped the run


class WorkerError(RuntimeError):
    """A call that failed in a worker, re-raised by :meth:`Outcome.get` when its own exception
    could not be brought back (it did not pickle, or the worker process died)."""


@dataclass
class Outcome:
    """What one call of ``fn(item)`` gave: ``value``, or the exception it raised.

    ``error`` is the exception's class name (``None`` when the call returned), ``message`` its
    text and ``traceback`` the traceback formatted where it was raised (in the worker).
    ``exception`` is the exception itself when it could be brought back from the worker.
    ``seconds`` is the call's own wall time, without the wait for a free worker. ``warnings``:
    the warnings the call issued, as ``(category, message)``, for the caller to show with the
    item's name (a worker's own stderr would show them unnamed, mixed with the other items').
    """

    value: Any = None
    error: str | None = None
    message: str = ""
    traceback: str = ""
    seconds: float = 0.0
    exception: BaseException | None = field(default=None, repr=False)
    warnings: list = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_line(self) -> str:
        """``"TypeName: message"`` on one line; empty when the call returned."""
        if self.ok:
            return ""
        msg = " ".join(self.message.split())
        return f"{self.error}: {msg}" if msg else self.error

    def get(self):
        """The value, or the call's exception raised again (:class:`WorkerError` with the
        worker's traceback when the exception itself is not available)."""
        if self.ok:
            return self.value
        if self.exception is not None:
            raise self.exception
        raise WorkerError(f"{self.error_line}\n{self.traceback}".rstrip())

    @classmethod
    def failed(cls, exc: BaseException, seconds: float = 0.0, keep: bool = True) -> "Outcome":
        """The outcome of a call that raised ``exc``; ``keep=False`` drops the exception object
        (a process boundary is ahead and it does not pickle)."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(error=type(exc).__name__, message=str(exc), traceback=tb, seconds=seconds,
                   exception=exc if keep else None)


def run_one(fn: Callable, item, crossing: bool = False) -> Outcome:
    """``fn(item)`` as an :class:`Outcome`. ``crossing``: the outcome is sent to another process,
    so an exception that would not pickle is left out (its type, text and traceback stay)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(item)
        except Exception as exc:  # noqa: BLE001 - every failure belongs to its item
            out = Outcome.failed(exc, time.perf_counter() - t0, keep=not crossing or _pickles(exc))
        else:
            out = Outcome(value=value, seconds=time.perf_counter() - t0)
    out.warnings = [(w.category if not crossing or _pickles(w.category) else UserWarning, str(w.message))
                    for w in caught]
    return out


def _interrupted(out: list, progress=None) -> list:
    """``out`` with every item not done marked :data:`INTERRUPTED`."""
    for i, o in enumerate(out):
        if o is None:
            out[i] = Outcome(error=INTERRUPTED, message="interrupted (Ctrl-C) before this item was done",
                             exception=KeyboardInterrupt())
            if progress is not None:
                progress(i, out[i])
    return out


@contextmanager
def _noting_ctrl_c():
    """Yields a function that says whether Ctrl-C came. A call may handle Ctrl-C itself and
    return (``protect`` returns its best pattern): the loop must still stop after it."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield lambda: False  # only the main thread sees signals; SIGINT ignored or left to the OS
        return
    seen = []

    def note(signum, frame):
        seen.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield lambda: bool(seen)
    finally:
        signal.signal(signal.SIGINT, previous)


def _pickles(obj) -> bool:
    """Whether ``obj`` survives pickling (an exception with a custom ``__init__``, or a class
    defined inside a function, may not)."""
    try:
        pickle.loads(pickle.dumps(obj))
    except Exception:  # noqa: BLE001
        return False
    return True


class Executor(ABC):
    """Calls ``fn`` on each item; see the module."""

    #: how many calls may run at once
    slots: int = 1

    @abstractmethod
    def map(self, fn: Callable, items: Iterable, progress: Progress | None = None) -> list[Outcome]:
        """One :class:`Outcome` per item, in the order of ``items``. ``progress(index, outcome)``
        is called in this process as each item finishes."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the calls run, for progress messages (``"on 2 worker processes"``)."""

    def start(self, wait: bool = False) -> None:
        """Get ready for the first :meth:`map` ahead of it (a pool's worker processes start and
        import the package), in the background, or before returning with ``wait``; nothing
        where there is nothing to start."""

    def close(self) -> None:
        """Release what the executor holds (a pool's worker processes, a Dask worker plugin); it
        may still be used."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialExecutor(Executor):
    """The calls one after the other, in this process."""

    slots = 1

    def map(self, fn, items, progress=None):
        items = list(items)
        out: list[Outcome | None] = [None] * len(items)
        with _noting_ctrl_c() as ctrl_c:
            try:
                for i, item in enumerate(items):
                    out[i] = run_one(fn, item)
                    if progress is not None:
                        progress(i, out[i])
                    if ctrl_c():
                        break
            except KeyboardInterrupt:
                pass
        return _interrupted(out, progress)

    @property
    def description(self) -> str:
        return "in this process"


def _start_method() -> str:
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


class ProcessExecutor(Executor):
    """A pool of ``workers`` local processes, started at the first :meth:`map` and kept for the
    next ones (the workers import the package once) until :meth:`close`. ``worker_init()``, if
    given, runs in each worker as it starts (e.g. :func:`cellsuppress.solvers.one_thread`)."""

    def __init__(self, workers: int, worker_init: Callable | None = None):
        self.slots = _check_workers(workers)
        if worker_init is not None:
            _check_pickles(worker_init)
        self.worker_init = worker_init
        self._pool: ProcessPoolExecutor | None = None
        self._starting: list = []  # the futures of the calls that start the workers (start())

    @property
    def description(self) -> str:
        return f"on {self.slots} worker process{'es' if self.slots > 1 else ''}"

    def close(self) -> None:
        self._starting = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def start(self, wait: bool = False) -> None:
        # the pool spawns a worker per call submitted while none is idle: one call per slot
        # starts them all, and its end says a worker has started and imported the package
        if self._pool is None:
            self._pool = self._new_pool(self.slots)
            self._starting = [self._pool.submit(_started) for _ in range(self.slots)]
        if wait and self._starting:
            concurrent.futures.wait(self._starting)
        self._settle_start()

    def _settle_start(self) -> None:
        """A pool whose workers failed to start is dropped: :meth:`map` starts its own and
        names the failure per item."""
        if any(f.done() and f.exception() is not None for f in self._starting):
            _stop(self._pool)
            self._pool = None
        if all(f.done() for f in self._starting):
            self._starting = []

    def map(self, fn, items, progress=None):
        _check_pickles(fn)
        items = list(items)
        self._settle_start()
        out: list[Outcome | None] = [None] * len(items)
        todo = list(range(len(items)))
        try:
            while todo:
                todo = self._round(fn, items, todo, out, progress)
        except KeyboardInterrupt:
            # the workers ignore Ctrl-C (a worker between items would die with a traceback, one
            # inside protect would go on to the next item): they are stopped from here
            _stop(self._pool)
            self._pool = None
            return _interrupted(out, progress)
        return out

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        context = mp.get_context(_start_method())
        if context.get_start_method() == "forkserver" and self.worker_init is not None:
            # the fork server imports what every worker imports (the main module, as it does by
            # default, and worker_init's package) once, and forks the workers from it: each then
            # starts in a fraction of the import's time, where each importing the package on a
            # loaded machine took seconds. It applies where the fork server is not running yet.
            context.set_forkserver_preload(["__main__", self.worker_init.__module__])
        return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                   initializer=_start_worker, initargs=(self.worker_init,))

    def _round(self, fn, items, todo, out, progress) -> list[int]:
        """Run the items ``todo`` on the pool. When a worker dies the pool breaks and every
        unfinished item fails with it; the items that may have been running then are run again
        one at a time, each alone in a pool, so that only the one that kills its worker fails.
        Returns the items left for another round (on a new pool)."""
        if self._pool is None:
            self._pool = self._new_pool(self.slots)
        call = partial(run_one, fn, crossing=True)
        broken = False
        finished = 0
        try:
            futures = {self._pool.submit(call, items[i]): i for i in todo}
            for f in as_completed(futures):
                i = futures[f]
                try:
                    out[i] = f.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. a value that does not pickle
                    out[i] = Outcome.failed(exc, keep=False)
                finished += 1
                if progress is not None:
                    progress(i, out[i])
        except BaseException:
            _stop(self._pool)
            self._pool = None
            raise
        if not broken:
            return []
        self.close()
        left = [i for i in todo if out[i] is None]
        # a pool hands the items to its workers in the order submitted, one queued beyond the
        # running ones: the item that broke it is among the first unfinished ones
        suspects, rest = left[:self.slots + 1], left[self.slots + 1:]
        for i in suspects:
            out[i] = self._alone(call, items[i])
            if progress is not None:
                progress(i, out[i])
        if finished == 0 and all(out[i].error == WORKER_DIED for i in suspects):
            # nothing ran at all (the workers cannot start): the same failure for every item
            for i in rest:
                out[i] = Outcome(error=out[suspects[0]].error, message=out[suspects[0]].message)
                if progress is not None:
                    progress(i, out[i])
            return []
        return rest

    def _alone(self, call, item) -> Outcome:
        pool = self._new_pool(1)
        try:
            return pool.submit(call, item).result()
        except BrokenProcessPool:
            return Outcome(error=WORKER_DIED,
                           message="the worker process running this item died (it crashed, or was killed, "
                                   "e.g. for lack of memory)")
        except Exception as exc:  # noqa: BLE001
            return Outcome.failed(exc, keep=False)
        except BaseException:
            _stop(pool)
            raise
        finally:
            pool.shutdown(wait=True)


def _started() -> None:
    """The call that starts a worker (:meth:`ProcessExecutor.start`)."""


def _start_worker(worker_init: Callable | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if worker_init is not None:
        worker_init()


def _stop(pool: ProcessPoolExecutor | None) -> None:
    """End a pool now: its workers are terminated, not waited for."""
    if pool is None:
        return
    if hasattr(pool, "terminate_workers"):  # Python 3.14
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """The calls as tasks on a ``dask.distributed`` ``Client``'s cluster.

    ``worker_init()``, if given, runs on each worker of the cluster before the first call there:
    at the first :meth:`map` it is registered as a worker plugin
    (:class:`~cellsuppress.dask_plugin.WorkerInit`), which runs it on the workers there and on
    those that join later, and :meth:`close` unregisters it. It is skipped on a worker in this
    process (``LocalCluster(processes=False)``). What it set stays set in the worker processes
    after ``close`` (e.g. :func:`cellsuppress.solvers.one_thread`: this package's HiGHS models on
    those workers keep one thread; nothing else there changes)."""

    def __init__(self, client, worker_init: Callable | None = None):
        if not all(hasattr(client, a) for a in ("map", "scheduler_info")):
            raise RuleError(f"client must be a dask.distributed Client, got {type(client).__name__}")
        if worker_init is not None:
            _check_pickles(worker_init)
        self.client = client
        self.worker_init = worker_init
        self._plugin: str | None = None  # the name of the worker plugin while it is registered
        try:
            self.slots = max(1, sum(w.get("nthreads", 1)
                                    for w in client.scheduler_info().get("workers", {}).values()))
        except Exception:  # noqa: BLE001 - the count only sizes progress messages
            self.slots = 1

    @property
    def description(self) -> str:
        address = getattr(getattr(self.client, "scheduler", None), "address", None)
        return f"on the Dask cluster at {address}" if address else "on the Dask cluster"

    def close(self) -> None:
        if self._plugin is None:
            return
        name, self._plugin = self._plugin, None
        try:
            self.client.unregister_worker_plugin(name)
        except Exception:  # noqa: BLE001 - the client or the cluster is gone, and the plugin with it
            pass

    def _register_worker_init(self) -> None:
        from .dask_plugin import WorkerInit, plugin_name

        name = plugin_name(self.worker_init)
        self.client.register_plugin(WorkerInit(self.worker_init), name=name)
        self._plugin = name

    def map(self, fn, items, progress=None):
        from distributed import as_completed as dask_completed

        _check_pickles(fn)
        items = list(items)
        out: list[Outcome | None] = [None] * len(items)
        if not items:
            return []
        if self.worker_init is not None and self._plugin is None:
            self._register_worker_init()
        # pure=False: equal items are still separate calls (a solve with a time limit may differ)
        futures = self.client.map(partial(run_one, fn, crossing=True), items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f in dask_completed(futures):
                i = index[f.key]
                try:
                    out[i] = f.result()
                except Exception as exc:  # noqa: BLE001 - a worker lost (KilledWorker), a cancelled task
                    out[i] = Outcome.failed(exc, keep=False)
                if progress is not None:
                    progress(i, out[i])
        except KeyboardInterrupt:
            self.client.cancel(futures)
            return _interrupted(out, progress)
        except BaseException:
            self.client.cancel(futures)
            raise
        return out


def _check_pickles(fn) -> None:
    """A function the workers cannot receive is the caller's error, not every item's."""
    try:
        pickle.dumps(fn)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"{fn!r} cannot be sent to worker processes ({e}): give a function defined at the top "
                        "of a module, or a functools.partial of one") from None


def available_cores() -> int:
    """The cores this process may run on (its affinity, where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, Integral) or workers < 1:
        raise RuleError(f"workers must be a whole number >= 1 (1: in this process), got {workers!r}")
    return int(workers)


def make_executor(workers: int | None = None, client=None, worker_init: Callable | None = None) -> Executor:
    """The executor for ``workers`` local processes, or for a Dask ``client``.

    ``client`` (a ``dask.distributed.Client``) runs the calls on its cluster; ``workers`` is then
    left out. Otherwise ``workers=1`` runs them in this process and ``workers=None`` uses one
    process per available core. ``worker_init()`` runs in each worker process before its first
    call: a local worker as it starts, a Dask worker through a plugin registered until the
    executor is closed (see :class:`DaskExecutor`); never in this process.

    >>> make_executor(workers=1).description
    'in this process'
    >>> make_executor(workers=2).description
    'on 2 worker processes'
    """
    if client is not None:
        if workers is not None:
            raise RuleError("give workers (local processes) or client (a Dask cluster), not both")
        return DaskExecutor(client, worker_init)
    n = available_cores() if workers is None else _check_workers(workers)
    return SerialExecutor() if n == 1 else ProcessExecutor(n, worker_init)
