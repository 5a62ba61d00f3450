"""Which method protects a component, and the fast pattern built for size.

``method="auto"`` (the default of :func:`~cellsuppress.protect`) decides per independent
component of the table:

* at most :data:`AUTO_CELLS` cells, or no dimensions to decompose by (a JJ file's equations):
  the optimal method;
* more, with a hierarchy: the modular method (:mod:`~cellsuppress.suppress.modular`);
* more, without one: the local method (:mod:`~cellsuppress.suppress.local`).

Above :data:`AUTO_CELLS` the optimal method also starts from that pattern instead of the
heuristic's, whose cheapest-move LPs each span the whole table.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline
from ..errors import RuleError
from .batch import moves_within
from .local import Grid, grid_of, local
from .local import certificates as box_certificates
from .modular import modular
from .problem import Problem
from .subtables import Subtable, subtables

__all__ = ["AUTO_CELLS", "Shape", "shape_of", "choose", "fast_pattern", "certificates"]

# above this many cells a component is protected by the methods built for size; below it the
# optimal method is fast enough (two-way tables of 100 x 100 in seconds, three-way tables of a
# few thousand cells within minutes' limits)
AUTO_CELLS = 10_000


@dataclass
class Shape:
    """What a component's structure allows: its subtables (a hierarchy: more than one) or its
    grid (no hierarchy), or neither (no dimensions)."""

    subs: list[Subtable] | None = None
    grid: Grid | None = None

    @property
    def kind(self) -> str:
        if self.grid is not None:
            return "flat"
        return "hierarchical" if self.subs is not None else "none"


def shape_of(p: Problem) -> Shape:
    g = grid_of(p)
    if g is not None:
        return Shape(grid=g)
    return Shape(subs=subtables(p))


def choose(p: Problem, method: str, shape: Shape) -> tuple[str, str]:
    """``(method to run, why)`` for one component; ``method`` as given to protect. Raises
    :class:`~cellsuppress.RuleError` for a method the component's structure does not allow."""
    n = p.n
    if method == "auto":
        if n <= AUTO_CELLS:
            return "optimal", f"{n:,} cells, at most {AUTO_CELLS:,}"
        if shape.kind == "none":
            return "optimal", f"{n:,} cells, but no dimensions to decompose the table by"
        if shape.kind == "hierarchical":
            return "modular", f"{n:,} cells, above {AUTO_CELLS:,}, with a hierarchy ({len(shape.subs)} subtables)"
        return "local", f"{n:,} cells, above {AUTO_CELLS:,}, without hierarchy"
    if method in ("modular", "local") and shape.kind == "none":
        raise RuleError(f"method={method!r} needs a table with dimensions (a Table, or linked tables); "
                        "this one has only equations: use 'optimal' or 'fast'")
    if method == "local" and shape.kind == "hierarchical":
        raise RuleError("method='local' needs a table without hierarchy (one total per dimension); "
                        "this one has a hierarchy: use 'modular'")
    return method, "as asked"


def fast_pattern(p: Problem, shape: Shape, say=None, deadline: Deadline = NEVER,
                 run: Callable | None = None) -> tuple[np.ndarray, dict]:
    """The pattern of the method built for size: modular with a hierarchy (``run`` as
    :func:`~cellsuppress.suppress.modular.modular` takes it, with its ``slots`` attribute, the
    calls it runs at once), local without (its boxes in ``stats["built"]`` and its clean-up's
    moves in ``stats["moves"]``, for :func:`certificates`)."""
    if shape.kind == "flat":
        # boxes and LPs make the local pattern safe as built: its clean-up takes the time left
        return local(p, say, deadline, g=shape.grid)
    if shape.kind == "hierarchical":
        return modular(p, say, deadline, subs=shape.subs,
                       **({} if run is None else {"run": run, "slots": getattr(run, "slots", 1)}))
    raise RuleError("the methods built for size need a table with dimensions")


def certificates(p: Problem, shape: Shape, x: np.ndarray, stats: dict) -> sp.csr_matrix | None:
    """Attacker moves that certify the pattern ``x`` of the method built for size (one per row,
    a column per cell of ``p``), for the final audit to verify and try before its LPs; None
    where the method has none (the audit's own LPs find them)."""
    if shape.kind == "flat":
        return box_certificates(p, shape.grid, x, stats.get("built"), stats.get("moves"), stats.get("batch"))
    W = stats.get("moves")  # the subtables': those the clean-up has not broken
    if W is None or not W.shape[0]:
        return None
    return moves_within(W, np.asarray(x) > 0.5)
