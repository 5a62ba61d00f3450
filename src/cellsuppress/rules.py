"""Sensitivity rules (which cells are primary) and protection presets (what protects them).

A :class:`Preset` is one named requirement: where the attacker's feasibility
interval ``[lo, hi]`` of a sensitive cell must reach, whether one side of it
is enough, which rule on equation sums comes with it, how an interval is
judged and how a failing one is explained. :data:`PRESETS` holds one instance
per name; the audit and the methods ask the preset (through a
:class:`Requirement`, or the capabilities the suppression problem copies from
it), so a new preset is one more instance here.

A :class:`Requirement` is a preset applied to a table: per sensitive cell, in
absolute terms so that it also applies where the true value is unknown,
``lo <= need_lo`` and ``hi >= need_hi`` (both, or either one for an
either-side preset) and ``hi - lo >= spl``.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .errors import RuleError

TOL = 1e-6


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


def linked_sensitive(joint, flags, threshold: float = 20) -> np.ndarray | None:
    """Sensitivity flags given per table of linked tables (``sensitive=`` of protect and audit
    with a list: one entry per table) on the joint cells (a
    :class:`~cellsuppress.tables.linked.LinkedTables`). ``None`` when no table has flags; a table
    given ``None`` among others keeps the rule's flags (counts ``1..threshold``), as it would
    alone; a shared cell flagged in one table is flagged in all."""
    per = joint.per_table(flags, "sensitive")
    if all(f is None for f in per):
        return None
    own = [sensitive_cells(t.values, threshold) if f is None else np.asarray(f, dtype=bool)
           for t, f in zip(joint.tables, per)]
    return joint.join(own, "sensitive", how="any")


# -- presets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset(ABC):
    """A named protection requirement.

    ``either_side``: one side of the interval is enough (a disjunction: the methods
    choose a side per cell). ``equation_sum_rule``: no equation's hidden cells may have
    an exactly known sum in ``1..T`` that holds a sensitive cell; the levels do not imply
    it, so the methods enforce it. ``audit_known_sums``: the audit fails a pattern with
    such a sum (where the levels imply the rule, as under ``strict``, this guards
    published tables whose hidden values are unknown). ``given_levels``: the levels
    come from the user or the table (a JJ file's), whose unsafe flags then say which
    cells are sensitive.

    Subclasses say where the interval must reach (:meth:`bounds`) and may judge and
    explain it their own way (:meth:`satisfied`, :meth:`why`).
    """

    name: str
    either_side: bool = False
    equation_sum_rule: bool = False
    audit_known_sums: bool = False
    given_levels: bool = False

    def floor(self, table, hidden_nonzero: bool) -> np.ndarray:
        """The attacker's a-priori lower bound of every cell, were it hidden.

        The table's ``lb``; with ``hidden_nonzero`` (zeros are never hidden, so a hidden
        cell is at least 1) also the least value the cell can take when every non-zero
        cell is at least 1 (:meth:`~cellsuppress.tables.linear.LinearTable.nonzero_floor`):
        a subtotal of two non-zero cells is at least 2.
        """
        lb = np.asarray(table.lb, dtype=float)
        return np.maximum(lb, table.nonzero_floor()) if hidden_nonzero else lb.copy()

    @abstractmethod
    def bounds(self, table, threshold: float, sensitive: np.ndarray, floor: np.ndarray, given: tuple,
               by_rule: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(need_lo, need_hi, spl)`` per cell. ``given`` is the user's ``(lpl, upl, spl)``;
        ``by_rule`` whether the sensitivity rule (not the user or the table) chose the cells."""

    def satisfied(self, req: "Requirement", lo: np.ndarray, hi: np.ndarray, tol: float = TOL) -> np.ndarray:
        """Whether each interval meets the requirement (whatever the cell's sensitivity)."""
        lo_ok = lo <= req.need_lo + tol
        hi_ok = hi >= req.need_hi - tol
        sides = (lo_ok | hi_ok) if self.either_side else (lo_ok & hi_ok)
        return sides & (hi - lo >= req.spl - tol)

    def why(self, req: "Requirement", lo: np.ndarray, hi: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Why the intervals ``[lo, hi]`` of ``cells`` (which fail) do not protect them."""
        out = np.empty(lo.size, dtype=object)
        T = req.threshold
        for i in range(lo.size):  # only the failing cells
            c = cells[i]
            if hi[i] - lo[i] <= TOL:
                out[i] = "exactly disclosed"
            elif lo[i] >= 1 - TOL and hi[i] <= T + TOL:
                out[i] = f"interval inside 1..{T:g}"
            else:
                parts = []
                if hi[i] < req.need_hi[c] - TOL:
                    parts.append(f"upper bound below {req.need_hi[c]:g}")
                if lo[i] > req.need_lo[c] + TOL:
                    parts.append(f"lower bound above {req.need_lo[c]:g}")
                if hi[i] - lo[i] < req.spl[c] - TOL:
                    parts.append(f"interval narrower than {req.spl[c]:g}")
                out[i] = "; ".join(parts) or "unprotected"
        return out


class _Strict(Preset):
    """Down to the attacker's floor and up to ``T + 1``: nothing is learnt below, a value above T
    cannot be ruled out, and no sum of hidden cells holding a sensitive one can be bounded below T + 1."""

    def bounds(self, table, threshold, sensitive, floor, given, by_rule):
        n = table.n_cells
        return floor.copy(), np.full(n, threshold + 1), np.zeros(n)


class _Policy(Preset):
    """The literal policy: the interval is not inside ``1..T`` (down to 0 or up to ``T + 1``)."""

    def bounds(self, table, threshold, sensitive, floor, given, by_rule):
        n = table.n_cells
        return np.zeros(n), np.full(n, threshold + 1), np.zeros(n)

    def why(self, req, lo, hi, cells):
        return np.where(hi - lo <= TOL, "exactly disclosed", f"interval inside 1..{req.threshold:g}").astype(object)


class _Exact(Preset):
    """Only exact disclosure is prevented: ``lo < hi``. The methods ask a sliding level of 1,
    which integral data need for it."""

    def bounds(self, table, threshold, sensitive, floor, given, by_rule):
        n = table.n_cells
        return np.full(n, np.inf), np.full(n, -np.inf), np.where(sensitive, 1.0, 0.0)

    def satisfied(self, req, lo, hi, tol=TOL):
        return hi - lo > tol


class _Custom(Preset):
    """Lower, upper and sliding protection levels relative to the true value, given per cell."""

    def bounds(self, table, threshold, sensitive, floor, given, by_rule):
        n = table.n_cells
        values = table.values
        lpl, upl, spl = (None if g is None else np.broadcast_to(np.asarray(g, float), (n,)) for g in given)
        lpl = table.lpl if lpl is None else lpl
        upl = table.upl if upl is None else upl
        spl = table.spl if spl is None else spl
        if lpl is None and upl is None and spl is None:
            raise RuleError("preset 'custom' needs protection levels: pass lpl/upl/spl or a table that has them")
        # levels are relative to true values; where the rule decides sensitivity, a cell of unknown
        # value (a published table's hidden cell) may be sensitive too
        unknown = np.isnan(values) & (True if by_rule else sensitive)
        if unknown.any():
            bad = np.flatnonzero(unknown)
            raise RuleError(
                f"preset 'custom' needs the true values of (possibly) sensitive cells; unknown for {', '.join(table.cell_labels(bad[:5]))}")
        zero = np.zeros(n)
        lpl = zero if lpl is None else lpl
        upl = zero if upl is None else upl
        spl = zero.copy() if spl is None else np.asarray(spl, float).copy()
        if (np.asarray([lpl, upl, spl])[:, sensitive] < 0).any():
            raise RuleError("protection levels must be non-negative")
        return values - lpl, values + upl, spl


STRICT = _Strict("strict", audit_known_sums=True)
POLICY = _Policy("policy", either_side=True, equation_sum_rule=True, audit_known_sums=True)
EXACT = _Exact("exact")
CUSTOM = _Custom("custom", given_levels=True)

PRESETS: dict[str, Preset] = {p.name: p for p in (STRICT, POLICY, EXACT, CUSTOM)}


def preset_named(name) -> Preset:
    """The preset of that name (a :class:`Preset` is returned as it is)."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise RuleError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


# -- requirements ------------------------------------------------------------------------------
@dataclass
class Requirement:
    """A preset applied to a table: what each cell's interval must satisfy (entries of
    non-sensitive cells are ignored)."""

    preset: Preset
    threshold: float
    sensitive: np.ndarray
    need_lo: np.ndarray  # lo must be <= this
    need_hi: np.ndarray  # hi must be >= this
    spl: np.ndarray  # hi - lo must be >= this
    attacker_lb: np.ndarray  # a-priori lower bound of hidden cells (the preset's floor)

    def satisfied(self, lo: np.ndarray, hi: np.ndarray, tol: float = TOL) -> np.ndarray:
        """Whether the intervals meet the requirement (per cell; True where not sensitive)."""
        return self.preset.satisfied(self, lo, hi, tol) | ~self.sensitive

    def for_every_cell(self) -> "Requirement":
        """The same requirement asked of every cell (to judge cells of unknown sensitivity)."""
        return dataclasses.replace(self, sensitive=np.ones_like(self.sensitive))

    def why(self, lo: np.ndarray, hi: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Why the failing intervals ``[lo, hi]`` of ``cells`` do not protect them."""
        return self.preset.why(self, lo, hi, cells)

    def levels(self, values: np.ndarray, where: np.ndarray | None = None):
        """``(up, dn, spl)``: how far above and below ``values`` the attacker must be able to move
        each sensitive cell (of ``where``, if given), and its sliding level; 0 elsewhere, where
        the preset asks nothing of that side, and where the value is unknown."""
        want = self.sensitive if where is None else self.sensitive & where
        with np.errstate(invalid="ignore"):
            up = np.where(want, np.fmax(self.need_hi - values, 0.0), 0.0)
            dn = np.where(want, np.fmax(values - self.need_lo, 0.0), 0.0)
        return up, dn, np.where(want, self.spl, 0.0)

    def capacities(self, table) -> tuple[np.ndarray, np.ndarray]:
        """``(cap_up, cap_dn)``: how far the attacker may move each cell once hidden, up to its
        upper bound and down to its floor."""
        a = table.values
        return np.maximum(table.ub - a, 0.0), np.maximum(a - self.attacker_lb, 0.0)


def requirement(table, preset: str = "strict", threshold: float = 20, sensitive=None,
                hidden_nonzero: bool = False, lpl=None, upl=None, spl=None) -> Requirement:
    """Turn a preset into per-cell requirements for ``table`` (a LinearTable).

    ``strict``: the interval must reach down to the attacker's floor and up to
    ``threshold + 1``. ``policy``: down to 0 or up to ``threshold + 1``.
    ``exact``: ``lo < hi``. ``custom``: the given (or the table's own) lower,
    upper and sliding protection levels, relative to the true value.

    >>> import numpy as np, scipy.sparse as sp
    >>> from cellsuppress.tables.linear import LinearTable
    >>> t = LinearTable(values=np.array([8., 3., 5.]), M=sp.csr_matrix([[-1., 1, 1]]))
    >>> r = requirement(t, "strict", threshold=20)
    >>> r.sensitive.tolist(), r.need_hi[r.sensitive].tolist()
    ([True, True, True], [21.0, 21.0, 21.0])

    With ``hidden_nonzero`` the total of two non-zero cells is at least 2, and strict asks
    its interval to reach down to that:

    >>> requirement(t, "strict", hidden_nonzero=True).need_lo.tolist()
    [2.0, 1.0, 1.0]
    """
    rule = preset_named(preset)
    by_rule = sensitive is None and not (table.status is not None and rule.given_levels)
    if sensitive is None:
        if table.status is not None and rule.given_levels:
            sensitive = table.status == "u"
        else:
            sensitive = sensitive_cells(table.values, threshold)
            if table.status is not None:
                sensitive = sensitive | (table.status == "u")
    sensitive = np.asarray(sensitive, dtype=bool)
    floor = rule.floor(table, hidden_nonzero)
    need_lo, need_hi, spl_arr = rule.bounds(table, float(threshold), sensitive, floor, (lpl, upl, spl), by_rule)
    return Requirement(rule, float(threshold), sensitive, np.asarray(need_lo, float),
                       np.asarray(need_hi, float), np.asarray(spl_arr, float), floor)
