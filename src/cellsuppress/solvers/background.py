"""A program solved in another thread while the caller goes on with other work.

The optimal method's loop is one thread of Python and solver calls, and HiGHS solves a MILP
on one core; the master's bound can come from a copy of it solved on the second core. The
backend releases the GIL while it solves (highspy does), so the threads run side by side.
"""
from __future__ import annotations

import queue
import threading
import time
import warnings

from ..clock import tick, work
from . import make_model
from .base import LinearProgram, Model, Solution, SolverError


# the name of every such thread: a caller can check that none is left running
THREAD_NAME = "cellsuppress-background-solve"


class BackgroundSolve:
    """Solve ``lp`` with ``solver`` in a thread of its own; the solve options are those of the
    backend's ``solve``. Only for backends that can be stopped from outside (``can_stop``).

    HiGHS does not check its time limit everywhere: a solve can run far past it in the presolve
    of a RENS sub-MIP (``HPresolve::strengthenInequalities``), and not stop when asked. So no
    wait here outlasts the solve's own time limit by more
    than ``GRACE`` seconds: a solve still running then is asked to stop, and if it does not
    within ``GRACE`` more it is left to end on its own (``abandoned``) and its result reads
    as a time limit with nothing found.

    >>> import numpy as np, scipy.sparse as sp
    >>> lp = LinearProgram(c=[1, 1], A=sp.csr_matrix([[1., 1.]]), row_lo=[1.5], row_hi=[np.inf],
    ...                    col_lo=[0, 0], col_hi=[1, 1], integer=np.array([True, True]))
    >>> job = BackgroundSolve(lp, "highs", time_limit=10.0)
    >>> job.result(wait=True).objective
    2.0
    """

    GRACE = 5.0

    def __init__(self, lp: LinearProgram, solver: str, **solve_options):
        self._start(make_model(lp, solver), solve_options, solver)

    @classmethod
    def on(cls, model: Model, thread: SolveThread | None = None, **solve_options) -> BackgroundSolve:
        """A solve of a live ``model`` (not a copy): the caller must leave the model alone until
        the solve has ended, and for good if it is ``abandoned``. ``thread``: run it there when
        that thread is free (else in a thread of its own)."""
        job = cls.__new__(cls)
        job._start(model, solve_options, type(model).__name__, thread)
        return job

    def _start(self, model: Model, solve_options: dict, name: str, thread: SolveThread | None = None) -> None:
        self.model = model
        if not model.can_stop:
            raise SolverError(f"the {name} backend cannot be stopped from another thread")
        self._solution: Solution | None = None
        self._error: BaseException | None = None
        self._work: float | None = None  # the solve's work, not yet handed to the caller's thread
        self.abandoned = False
        limit = solve_options.get("time_limit")
        self._due = None if limit is None else time.perf_counter() + float(limit) + self.GRACE
        # the end of the solve is an event, not the thread's join: a join cut short by
        # KeyboardInterrupt can mark a thread that still runs as stopped (CPython 3.11), and
        # the solve would be left running
        self._done = threading.Event()
        if thread is not None and thread.take(self, solve_options):
            return
        self._thread = threading.Thread(target=self._run, kwargs=solve_options, daemon=True, name=THREAD_NAME)
        try:
            self._thread.start()
        except KeyboardInterrupt:  # the caller never gets the job to stop: stop it here
            self.stop()
            raise

    def _run(self, free: threading.Lock | None = None, **solve_options) -> None:
        """The solve (in its thread); ``free``, the lock of a :class:`SolveThread`, is released
        before the end is told: the caller's next solve may come at once."""
        start = work()
        try:
            self._solution = self.model.solve(**solve_options)
        except BaseException as e:  # handed to the caller's thread by result()
            self._error = e
        finally:
            self._work = work() - start
            if free is not None:
                free.release()
            self._done.set()

    def stop(self) -> None:
        """End the solve now (its best bound so far is kept) and wait for the thread, ``GRACE``
        seconds at most (then it is abandoned)."""
        give_up = time.perf_counter() + self.GRACE
        while not self._done.is_set() and not self.abandoned:
            if time.perf_counter() > give_up:
                self.abandoned = True
                warnings.warn(f"a {type(self.model).__name__} solve did not stop at its time limit nor when "
                              "asked; its thread is left to end on its own (one core stays busy)",
                              RuntimeWarning, stacklevel=2)
                return
            # again until it ends: a stop that comes before the solve has set its own time
            # limit would be overwritten by it
            self.model.stop()
            self._done.wait(0.2)

    def result(self, wait: bool | float = False) -> Solution | None:
        """The solution once the solve has ended (None before, unless ``wait``; a number: wait
        that many seconds at most). Past its time limit and ``GRACE``, a solve still running is
        stopped, or abandoned."""
        now = time.perf_counter()
        if wait is True:
            self._done.wait(None if self._due is None else max(0.0, self._due - now))
        elif wait:
            self._done.wait(float(wait))
        if not self._done.is_set() and self._due is not None and time.perf_counter() > self._due:
            self.stop()
        if self.abandoned:
            return Solution(status="time_limit", stats={"abandoned": True})
        if not self._done.is_set():
            return None
        if self._work is not None:  # on the clock of the thread that waited for it (clock.work)
            tick(self._work)
            self._work = None
        if self._error is not None:
            raise self._error
        return self._solution


class SolveThread:
    """One thread that runs solves one after another (:meth:`BackgroundSolve.on`), for a loop
    that waits for each solve before the next: HiGHS sets up its thread scheduler once per
    calling thread, which costs a few milliseconds of CPU at every solve in a thread of its own,
    as much as a small LP takes. A solve that comes while the thread is busy (with a solve left
    running, ``abandoned``) gets a thread of its own. Use it as a context: at its end the thread
    ends too, once its solve (if any) has ended.

    >>> import numpy as np, scipy.sparse as sp
    >>> from cellsuppress.solvers import make_model
    >>> lp = LinearProgram(c=[1, 1], A=sp.csr_matrix([[1., 1.]]), row_lo=[1.5], row_hi=[np.inf],
    ...                    col_lo=[0, 0], col_hi=[1, 1], integer=np.array([True, True]))
    >>> model = make_model(lp, "highs")
    >>> with SolveThread() as thread:
    ...     [BackgroundSolve.on(model, thread=thread).result(wait=True).objective for _ in range(2)]
    [2.0, 2.0]
    """

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()  # held while a solve runs
        self._closed = False

    def take(self, job: BackgroundSolve, solve_options: dict) -> bool:
        """Run ``job`` here if the thread is free (True), else leave it (False)."""
        if self._closed or not self._busy.acquire(blocking=False):
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, daemon=True, name=THREAD_NAME)
            self._thread.start()
        self._jobs.put((job, solve_options))
        return True

    def _serve(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, options = item
            job._run(self._busy, **options)

    def close(self) -> None:
        """End the thread: at once when it is free, else after its solve (not waited for: a
        solve left running ends on its own)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        self._jobs.put(None)
        if self._busy.acquire(blocking=False):  # free: it ends now
            self._busy.release()
            self._thread.join()

    def __enter__(self) -> SolveThread:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
