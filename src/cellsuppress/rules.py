"""Sensitivity rules (which cells are primary) and protection presets (what protects them).

A :class:`Requirement` states, per sensitive cell, what the attacker's
feasibility interval ``[lo, hi]`` must satisfy, in absolute terms so that it
also applies where the true value is unknown:

* ``levels``: ``lo <= need_lo``, ``hi >= need_hi`` and ``hi - lo >= spl``
  (``strict``, ``exact`` and custom protection levels);
* ``policy``: ``lo <= 0`` **or** ``hi >= threshold + 1``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RuleError

PRESETS = ("strict", "policy", "exact", "custom")


def sensitive_cells(values: np.ndarray, threshold: float = 20, flags=None) -> np.ndarray:
    """Primary cells: ``1 <= value <= threshold`` (zeros are publishable), or user flags.

    ``flags`` (boolean per cell) are added to the rule; pass ``threshold=0``
    to use the flags alone. Cells of unknown value are not flagged here.

    >>> sensitive_cells(np.array([0, 1, 20, 21, np.nan])).tolist()
    [False, True, True, False, False]
    """
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        out = (v >= 1) & (v <= threshold)
    if flags is not None:
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != v.shape:
            raise RuleError(f"sensitivity flags have {flags.size} entries but the table has {v.size} cells")
        out = out | flags
    return out


@dataclass
class Requirement:
    """Protection required of each cell (entries of non-sensitive cells are ignored)."""

    preset: str
    threshold: float
    sensitive: np.ndarray
    need_lo: np.ndarray  # lo must be <= this
    need_hi: np.ndarray  # hi must be >= this
    spl: np.ndarray  # hi - lo must be >= this
    attacker_lb: np.ndarray  # a-priori lower bound of hidden cells

    @property
    def disjunctive(self) -> bool:
        return self.preset == "policy"

    def satisfied(self, lo: np.ndarray, hi: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Whether the intervals meet the requirement (per cell; True where not sensitive)."""
        if self.preset == "policy":
            ok = (lo <= tol) | (hi >= self.threshold + 1 - tol)
        else:
            ok = (lo <= self.need_lo + tol) & (hi >= self.need_hi - tol)
            if self.preset == "exact":
                ok &= hi - lo > tol
            else:
                ok &= hi - lo >= self.spl - tol
        return ok | ~self.sensitive


def requirement(table, preset: str = "strict", threshold: float = 20, sensitive=None,
                hidden_nonzero: bool = False, lpl=None, upl=None, spl=None) -> Requirement:
    """Turn a preset into per-cell requirements for ``table`` (a LinearTable).

    ``strict``: the interval must reach down to the attacker's lower bound and
    up to ``threshold + 1``. ``policy``: down to 0 or up to ``threshold + 1``.
    ``exact``: ``lo < hi``. ``custom``: the given (or the table's own) lower,
    upper and sliding protection levels, relative to the true value.

    >>> import numpy as np, scipy.sparse as sp
    >>> from cellsuppress.tables.linear import LinearTable
    >>> t = LinearTable(values=np.array([8., 3., 5.]), M=sp.csr_matrix([[-1., 1, 1]]))
    >>> r = requirement(t, "strict", threshold=20)
    >>> r.sensitive.tolist(), r.need_hi[r.sensitive].tolist()
    ([True, True, True], [21.0, 21.0, 21.0])
    """
    if preset not in PRESETS:
        raise RuleError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    n = table.n_cells
    values = table.values
    by_rule = sensitive is None and not (table.status is not None and preset == "custom")
    if sensitive is None:
        if table.status is not None and preset == "custom":
            sensitive = table.status == "u"
        else:
            sensitive = sensitive_cells(values, threshold)
            if table.status is not None:
                sensitive = sensitive | (table.status == "u")
    sensitive = np.asarray(sensitive, dtype=bool)
    attacker_lb = table.lb.copy()
    if hidden_nonzero:
        attacker_lb = np.maximum(attacker_lb, 1.0)
    need_lo = np.full(n, -np.inf)
    need_hi = np.full(n, np.inf)
    spl_arr = np.zeros(n)
    if preset == "strict":
        need_lo = attacker_lb.copy()
        need_hi = np.full(n, float(threshold) + 1)
    elif preset == "policy":
        need_lo = np.zeros(n)
        need_hi = np.full(n, float(threshold) + 1)
    elif preset == "exact":
        need_lo = np.full(n, np.inf)
        need_hi = np.full(n, -np.inf)
        spl_arr = np.where(sensitive, 1.0, 0.0)
    else:
        lpl = table.lpl if lpl is None else np.broadcast_to(np.asarray(lpl, float), (n,))
        upl = table.upl if upl is None else np.broadcast_to(np.asarray(upl, float), (n,))
        spl = table.spl if spl is None else np.broadcast_to(np.asarray(spl, float), (n,))
        if lpl is None and upl is None and spl is None:
            raise RuleError("preset 'custom' needs protection levels: pass lpl/upl/spl or a table that has them")
        # levels are relative to true values; where the rule decides sensitivity, a cell of unknown
        # value (a published table's hidden cell) may be sensitive too
        unknown = np.isnan(values) & (True if by_rule else sensitive)
        if unknown.any():
            bad = np.flatnonzero(unknown)
            raise RuleError(
                f"preset 'custom' needs the true values of (possibly) sensitive cells; unknown for {table.cell_labels(bad[:5])}")
        zero = np.zeros(n)
        lpl = zero if lpl is None else lpl
        upl = zero if upl is None else upl
        spl_arr = zero.copy() if spl is None else np.asarray(spl, float).copy()
        need_lo = values - lpl
        need_hi = values + upl
        if (np.asarray([lpl, upl, spl_arr])[:, sensitive] < 0).any():
            raise RuleError("protection levels must be non-negative")
    return Requirement(preset, float(threshold), sensitive, np.asarray(need_lo, float),
                       np.asarray(need_hi, float), np.asarray(spl_arr, float), attacker_lb)
