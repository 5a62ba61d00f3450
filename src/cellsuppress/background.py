"""A program solved in another thread while the caller goes on with other work.

The optimal method's loop is one thread of Python and solver calls, and HiGHS solves a MILP
on one core; the master's bound can come from a copy of it solved on the second core. The
backend releases the GIL while it solves (highspy does), so the threads run side by side.
"""
from __future__ import annotations

import threading

from .solvers import LinearProgram, Solution, make_model


# the name of every such thread: a caller can check that none is left running
THREAD_NAME = "cellsuppress-background-solve"


class BackgroundSolve:
    """Solve ``lp`` with ``solver`` in a thread of its own; the solve options are those of the
    backend's ``solve``. Only for backends that can be stopped from outside (``stop``).

    >>> import numpy as np, scipy.sparse as sp
    >>> lp = LinearProgram(c=[1, 1], A=sp.csr_matrix([[1., 1.]]), row_lo=[1.5], row_hi=[np.inf],
    ...                    col_lo=[0, 0], col_hi=[1, 1], integer=np.array([True, True]))
    >>> job = BackgroundSolve(lp, "highs", time_limit=10.0)
    >>> job.result(wait=True).objective
    2.0
    """

    def __init__(self, lp: LinearProgram, solver: str, **solve_options):
        self.model = make_model(lp, solver)
        if not callable(getattr(self.model, "stop", None)):
            raise ValueError(f"the {solver} backend cannot be stopped from another thread")
        self._solution: Solution | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, kwargs=solve_options, daemon=True,
                                        name=THREAD_NAME)
        self._thread.start()

    def _run(self, **solve_options) -> None:
        try:
            self._solution = self.model.solve(**solve_options)
        except BaseException as e:  # handed to the caller's thread by result()
            self._error = e

    def stop(self) -> None:
        """End the solve now (its best bound so far is kept) and wait for the thread."""
        while self._thread.is_alive():
            # again until it ends: a stop that comes before the solve has set its own time
            # limit would be overwritten by it
            self.model.stop()
            self._thread.join(0.2)

    def result(self, wait: bool | float = False) -> Solution | None:
        """The solution once the solve has ended (None before, unless ``wait``; a number: wait
        that many seconds at most)."""
        if wait is True:
            self._thread.join()
        elif wait:
            self._thread.join(float(wait))
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._solution
