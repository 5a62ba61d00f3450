"""Complementary cell suppression: the optimal method (branch-and-cut by row generation)
and the fast heuristic, orchestrated per independent component and always audited.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .audit import AuditReport, audit as run_audit
from .linear import LinearTable
from .model import (Problem, cost_weights, integral_costs, master_program, policy_rows, tie_break)
from .rules import requirement
from .separation import Separator, Violation, equation_sum_disclosures
from .solvers import make_model

METHODS = ("optimal", "fast")


class InfeasibleError(ValueError):
    """No suppression pattern can protect some sensitive cells."""


@dataclass
class Result:
    """What :func:`protect` returns. ``hidden`` is aligned to ``table.frame``."""

    frame: pd.DataFrame
    hidden: np.ndarray
    cost: float
    lower_bound: float
    gap: float
    optimal: bool
    audit: AuditReport
    stats: dict = field(default_factory=dict)
    message: str = ""

    @property
    def status(self) -> np.ndarray:
        return self.frame["status"].to_numpy()

    def summary(self) -> str:
        n_primary = int((self.frame["status"] == "primary").sum())
        n_secondary = int((self.frame["status"] == "secondary").sum())
        return (f"hidden {n_primary + n_secondary} of {len(self.frame)} cells ({n_primary} primary, "
                f"{n_secondary} secondary); cost {self.cost:g}; lower bound {self.lower_bound:g}; "
                f"gap {self.gap:.2%}; {'optimal' if self.optimal else 'not proven optimal'}; "
                f"audit {'SAFE' if self.audit.ok else 'NOT SAFE'}; {self.stats.get('seconds', 0):.2f} s"
                + (f"\n{self.message}" if self.message else ""))


class _Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = self.t0

    def __call__(self, msg: str, force: bool = False) -> None:
        now = time.perf_counter()
        if self.enabled and (force or now - self.last > 2.0) and now - self.t0 > 1.0:
            self.last = now
            print(f"[{now - self.t0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def protect(table: LinearTable, preset: str = "strict", threshold: float = 20, cost="value",
            method: str = "optimal", time_limit: float | None = None, mip_gap: float = 0.0,
            solver: str = "highs", hidden_nonzero: bool = False, sensitive=None, lpl=None, upl=None,
            spl=None, progress: bool = False, export_model: str | None = None,
            max_root_rounds: int = 50) -> Result:
    """Hide the sensitive cells and the cheapest set of other cells that protects them.

    ``method="optimal"`` proves optimality (or states the gap when the time
    limit stops it); ``"fast"`` returns the heuristic pattern alone. Every
    returned pattern has passed :func:`cellsuppress.audit` under ``preset``.

    >>> import pandas as pd, cellsuppress as cs
    >>> df = pd.DataFrame({"r": list("aabb"), "c": list("xyxy"), "n": [3, 40, 25, 30]})
    >>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
    >>> res = cs.protect(t)
    >>> res.frame.query("status != 'published'")[["r", "c", "value", "status"]]
       r  c  value     status
    4  a  x    3.0    primary
    5  a  y   40.0  secondary
    7  b  x   25.0  secondary
    8  b  y   30.0  secondary
    >>> res.optimal, res.audit.ok
    (True, True)
    """
    t0 = time.perf_counter()
    say = _Progress(progress)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if np.isnan(table.values).any():
        bad = np.flatnonzero(np.isnan(table.values))
        raise ValueError(f"protect needs every true value; unknown for {table.cell_labels(bad[:5])}")
    if preset is None:
        preset = "custom" if table.upl is not None else "strict"
    req = requirement(table, preset, threshold, sensitive=sensitive, hidden_nonzero=hidden_nonzero,
                      lpl=lpl, upl=upl, spl=spl)
    p = build_problem(table, req, cost, hidden_nonzero)
    _check_feasible_alone(table, p)
    deadline = None if time_limit is None else t0 + float(time_limit)

    ncomp, comp = _components(p)
    x = np.zeros(p.n)
    x[p.force_hidden] = 1.0
    lower = 0.0
    all_optimal = True
    notes: list[str] = []
    stats = {"components": 0, "cut_rounds": 0, "cuts": 0, "lps": 0, "mip_solves": 0}
    comps_with_work = np.unique(comp[p.sensitive | p.force_hidden])
    for ci, c in enumerate(comps_with_work):
        cells = np.flatnonzero(comp == c)
        sub = p.subproblem(cells)
        stats["components"] += 1
        say(f"component {ci + 1}/{comps_with_work.size}: {cells.size} cells, {int(sub.sensitive.sum())} sensitive",
            force=comps_with_work.size > 1)
        if method == "fast" or not sub.sensitive.any():
            xs, st = heuristic(sub, say, deadline, cleanup_budget=_budget(deadline, 0.5))
            lb_c, opt_c = float(sub.cost[sub.force_hidden].sum()), not sub.sensitive.any()
        else:
            xs, lb_c, opt_c, st = optimal(sub, say, deadline, mip_gap, solver, max_root_rounds,
                                          export_model=export_model)
        for k in ("cut_rounds", "cuts", "lps", "mip_solves"):
            stats[k] += st.get(k, 0)
        if st.get("note"):
            notes.append(st["note"])
        x[cells] = xs
        lower += lb_c
        all_optimal &= opt_c
    hidden = x > 0.5
    # the audit is the proof: never return a pattern it has not passed
    say("auditing the pattern", force=True)
    report = run_audit(table, hidden, preset=preset, threshold=threshold, hidden_nonzero=hidden_nonzero,
                       sensitive=req.sensitive, lpl=lpl, upl=upl, spl=spl, progress=progress)
    if not report.ok:
        raise RuntimeError(
            "internal error: the pattern failed its audit; please report this table. "
            + report.summary())
    total = float(p.cost[hidden].sum())
    if integral_costs(p.cost):
        lower = float(np.ceil(lower - 1e-6))
    lower = min(lower, total)
    gap = 0.0 if total <= 0 else max(0.0, (total - lower) / total)
    optimal_flag = all_optimal and gap <= max(mip_gap, 1e-9) + 1e-12
    if method == "optimal" and optimal_flag:
        gap = 0.0 if mip_gap == 0 else gap
    stats["seconds"] = time.perf_counter() - t0
    stats["lps"] += report.stats.get("solves", 0)
    status = np.where(req.sensitive & hidden, "primary", np.where(hidden, "secondary", "published"))
    frame = table.labels.astype(str).copy() if table.labels is not None else pd.DataFrame(
        {"cell": np.arange(table.n_cells)})
    frame["value"] = table.values
    frame["status"] = status
    if deadline is not None and time.perf_counter() > deadline and not optimal_flag:
        notes.insert(0, f"time limit of {time_limit:g} s reached: returning the best audited pattern, gap {gap:.2%}")
    say(f"done: cost {total:g}, lower bound {lower:g}, gap {gap:.2%}", force=True)
    return Result(frame=frame, hidden=hidden, cost=total, lower_bound=lower, gap=gap,
                  optimal=bool(optimal_flag), audit=report, stats=stats, message="\n".join(notes))


def build_problem(table: LinearTable, req, cost, hidden_nonzero: bool) -> Problem:
    """Capacities, levels, weights and forced cells of ``table`` under ``req``."""
    a = table.values
    lb = req.attacker_lb
    cap_up = table.ub - a
    cap_dn = a - lb
    sens = req.sensitive
    if req.preset == "exact":
        up = np.zeros_like(a)
        dn = np.zeros_like(a)
    else:
        up = np.where(sens, np.maximum(req.need_hi - a, 0.0), 0.0)
        dn = np.where(sens, np.maximum(a - req.need_lo, 0.0), 0.0)
    spl = np.where(sens, req.spl, 0.0)
    w = cost_weights(a, cost, table.cost)
    eps, _ = tie_break(w, table.depth)
    force_published = np.zeros(a.size, dtype=bool)
    force_hidden = sens.copy()
    if table.status is not None:
        force_published |= table.status == "z"
        force_hidden |= table.status == "m"
    if hidden_nonzero:
        force_published |= a == 0
    clash = force_hidden & force_published
    if clash.any():
        raise InfeasibleError(f"cells both sensitive (or manually hidden) and required to stay published: "
                              f"{table.cell_labels(np.flatnonzero(clash)[:5])}")
    return Problem(M=sp.csr_matrix(table.M), a=a, cap_up=np.maximum(cap_up, 0.0), cap_dn=np.maximum(cap_dn, 0.0),
                   sensitive=sens, up=up, dn=dn, spl=spl, weight=w + eps, cost=w,
                   force_hidden=force_hidden, force_published=force_published,
                   policy=req.preset == "policy", threshold=req.threshold)


def _check_feasible_alone(table, p: Problem) -> None:
    """A sensitive cell whose own bounds leave too little room can never be protected."""
    if p.policy:
        bad = p.sensitive & (p.up > p.cap_up + 1e-9) & (p.dn > p.cap_dn + 1e-9)
    else:
        bad = p.sensitive & ((p.up > p.cap_up + 1e-9) | (p.dn > p.cap_dn + 1e-9)
                             | (p.spl > p.cap_up + p.cap_dn + 1e-9))
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InfeasibleError(
            f"{idx.size} sensitive cell(s) cannot be protected even with every cell hidden, because their "
            f"own a-priori bounds are too tight: {', '.join(table.cell_labels(idx[:10]))}")


def _components(p: Problem) -> tuple[int, np.ndarray]:
    """Cells tied by equations; components without sensitive cells need nothing hidden."""
    B = (sp.csr_matrix(p.M) != 0).astype(np.int8)
    m, n = B.shape
    adj = sp.bmat([[None, B.T], [B, None]], format="csr") if m else sp.csr_matrix((n, n))
    nc, lab = connected_components(adj, directed=False)
    return nc, lab[:n]


# -- the heuristic -------------------------------------------------------------------------------

def heuristic(p: Problem, say=None, deadline=None, x0=None, cleanup_budget: float | None = None,
              cuts: list | None = None) -> tuple[np.ndarray, dict]:
    """A protected pattern, fast: start from the forced cells (or ``x0``), repair, then clean up.

    Each repair round audits the pattern with the attacker LPs and, for every
    failed requirement, hides the cheapest cells of its capacity cut until the
    cut holds; every round hides at least one more cell, so it ends protected.
    The clean-up then un-hides complementary cells, dearest first, wherever the
    audit shows they are not needed. Cuts found on the way are appended to ``cuts``.
    """
    from .model import single_equation_cuts

    sep = Separator(p)
    x = np.zeros(p.n) if x0 is None else (np.asarray(x0) > 0.5).astype(float)
    x[p.force_hidden] = 1.0
    x[p.force_published & ~p.force_hidden] = 0.0
    stats = {"cut_rounds": 0}
    first = _filter_policy(p, sep.violations(x))
    if cuts is not None:
        cuts.extend(first)
    x = _cheapest_moves(p, x, first)
    while True:
        witnesses: dict = {}
        viol = _filter_policy(p, sep.violations(x, witnesses=witnesses))
        rule = equation_sum_disclosures(p, x) if p.policy else []
        stats["cut_rounds"] += 1
        if not viol and not rule:
            break
        if cuts is not None:
            cuts.extend(viol)
        if say:
            say(f"heuristic: {len(viol)} requirement(s) fail, {int((x > 0.5).sum())} hidden")
        before = x.sum()
        if viol:
            A = sp.csr_matrix(np.array([v.coef for v in viol]))
            x = _greedy_cover(p, x, A, np.array([v.level for v in viol]))
        for _, _, pub in rule:
            free = pub[~p.force_published[pub]]
            if free.size:
                x[free[np.argmin(p.weight[free])]] = 1.0
        if x.sum() <= before:  # nothing could be added: the cuts are numerically useless
            free = ~p.force_published & (x < 0.5)
            x[free] = 1.0
            if not free.any():
                raise InfeasibleError("no pattern protects every sensitive cell")
    if cleanup_budget is None or cleanup_budget > 0:
        x = _cleanup(p, x, sep, witnesses, cleanup_budget, deadline)
    stats["lps"] = sep.n_lps
    return x, stats


def _cheapest_moves(p: Problem, x: np.ndarray, failing: list[Violation]) -> np.ndarray:
    """For each failing requirement, hide the support of the cheapest attacker move that meets it.

    The move is an LP over the whole problem: ``M z = 0``, ``z_k`` fixed at the
    protection level, each cell within its capacities, moving a published cell
    costing its weight per unit of the level and a hidden one nothing. Once its
    support is hidden the attacker can make that very move, so the requirement
    holds; later requirements reuse what earlier ones hid.
    """
    from .solvers import HighsModel, LinearProgram

    if not failing:
        return x
    x = x.copy()
    n = p.n
    M = sp.csr_matrix(p.M)
    blocked = p.force_published & ~p.force_hidden
    up_cap = np.where(blocked, 0.0, p.cap_up)
    dn_cap = np.where(blocked, 0.0, p.cap_dn)
    lp = LinearProgram(c=np.zeros(2 * n), A=sp.hstack([M, -M], format="csr"), row_lo=np.zeros(M.shape[0]),
                       row_hi=np.zeros(M.shape[0]), col_lo=np.zeros(2 * n), col_hi=np.concatenate([up_cap, dn_cap]))
    model = HighsModel(lp)
    idx = np.arange(2 * n)
    by_cell: dict[int, list[Violation]] = {}
    for v in failing:
        by_cell.setdefault(v.cell, []).append(v)
    for k, vs in by_cell.items():
        options = []  # policy: either side will do; otherwise every failing side is needed
        for v in vs:
            kinds = [("up", v.level), ("dn", v.level)] if v.kind == "spl" else [(v.kind, v.level)]
            if v.kind == "spl":
                kinds = [kd for kd in kinds if (p.cap_up[k] if kd[0] == "up" else p.cap_dn[k]) >= v.level]
            options.append(kinds[:1] if kinds else [])
        if p.policy:
            options = [[o[0] for o in options if o]]
        for opts in options:
            best = None
            for kind, level in opts:
                lo = np.zeros(2 * n)
                hi = np.concatenate([up_cap, dn_cap])
                col = k if kind == "up" else n + k
                lo[col] = hi[col] = level
                hi[n + k if kind == "up" else k] = 0.0
                model.set_col_bounds(idx, lo, hi)
                unit = np.where(x > 0.5, 0.0, p.weight / max(level, 1e-9)) + 1e-9
                model.set_objective(np.concatenate([unit, unit]))
                sol = model.solve()
                if sol.status == "optimal" and (best is None or sol.objective < best[0]):
                    best = (sol.objective, sol.x)
            if best is not None:
                z = best[1]
                x[(np.abs(z[:n]) + np.abs(z[n:])) > 1e-9] = 1.0
    return x


def _cleanup(p: Problem, x: np.ndarray, sep: Separator, witnesses: dict, budget, deadline) -> np.ndarray:
    """Un-hide complementary cells (dearest first) that no requirement needs.

    A cell that no attacker witness uses can go without any LP; otherwise only
    the requirements whose witnesses use it are re-checked.
    """
    t_end = time.perf_counter() + (budget if budget is not None else np.inf)
    if deadline is not None:
        t_end = min(t_end, deadline)
    x = x.copy()
    cand = np.flatnonzero((x > 0.5) & ~p.force_hidden)
    cand = cand[np.argsort(-p.weight[cand], kind="stable")]
    for j in cand:
        if time.perf_counter() > t_end:
            break
        affected = [k for k, held in witnesses.items() if _needs(p, held, j)]
        x[j] = 0.0
        if p.policy and equation_sum_disclosures(p, x):
            x[j] = 1.0
            continue
        if not affected:
            continue
        new: dict = {}
        viol = _filter_policy(p, sep.violations(x, cells=np.array(affected), witnesses=new))
        if viol:
            x[j] = 1.0
        else:
            witnesses.update(new)
    return x


def _needs(p: Problem, held: dict, j: int) -> bool:
    """Whether a cell's requirements may fail once ``j`` is published."""
    uses = [w is None or j in w for w in held.values()]
    if not uses:
        return False
    return all(uses) if p.policy else any(uses)


def _filter_policy(p: Problem, viol: list[Violation]) -> list[Violation]:
    """Under ``policy`` a cell fails only when both sides fail; keep its cheaper-to-fix side."""
    if not p.policy:
        return viol
    by_cell: dict[int, list[Violation]] = {}
    for v in viol:
        by_cell.setdefault(v.cell, []).append(v)
    out = []
    for k, vs in by_cell.items():
        need = int(p.up[k] > 0) + int(p.dn[k] > 0)
        if len(vs) >= need:
            out.append(min(vs, key=lambda v: v.level - v.gain))
    return out


def _greedy_cover(p: Problem, x: np.ndarray, A: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Hide the cheapest cells (cost per unit of capacity) until each row of ``A x >= rhs`` holds."""
    A = sp.csr_matrix(A)
    x = x.copy()
    blocked = p.force_published & ~p.force_hidden
    for r in np.argsort(-rhs, kind="stable"):  # big requirements first
        cols = A.indices[A.indptr[r]:A.indptr[r + 1]]
        coef = A.data[A.indptr[r]:A.indptr[r + 1]]
        have = float(coef @ x[cols])
        if have >= rhs[r] - 1e-9:
            continue
        cand = (x[cols] < 0.5) & ~blocked[cols] & (coef > 1e-12)
        cols, coef = cols[cand], coef[cand]
        order = np.argsort(p.weight[cols] / coef, kind="stable")
        for j, cj in zip(cols[order], coef[order]):
            x[j] = 1.0
            have += cj
            if have >= rhs[r] - 1e-9:
                break
    return x


# -- the optimal method ----------------------------------------------------------------------------

def optimal(p: Problem, say, deadline, mip_gap: float, solver: str, max_root_rounds: int = 50,
            export_model: str | None = None) -> tuple[np.ndarray, float, bool, dict]:
    """Row generation on the master MILP: cuts at the LP relaxation first, then at each integer
    solution, until the solution passes every attacker LP. Returns ``(x, lower bound, optimal, stats)``.
    """
    stats = {"cut_rounds": 0, "cuts": 0, "lps": 0, "mip_solves": 0}
    sep = Separator(p)
    n = p.n
    n_side = int(p.sensitive.sum()) if p.policy else 0
    sens_idx = np.flatnonzero(p.sensitive)
    lp = master_program(p)
    model = make_model(lp, solver)
    integral = integral_costs(p.cost)
    _, tb_total = tie_break(p.cost, np.zeros(n))

    def remaining():
        return None if deadline is None else max(0.0, deadline - time.perf_counter())

    seen: set = set()

    def add(viols: list[Violation]):
        if not viols:
            return 0
        coef = np.array([v.coef for v in viols])
        coef[np.abs(coef) < 1e-9] = 0.0
        keys = [hash((v.cell, v.kind, np.round(c, 9).tobytes())) for v, c in zip(viols, coef)]
        fresh = [i for i, k in enumerate(keys) if k not in seen]
        seen.update(keys)
        if not fresh:
            return 0
        viols = [viols[i] for i in fresh]
        coef = coef[fresh]
        A = sp.csr_matrix(coef)
        rhs = np.array([v.level for v in viols], dtype=float)
        if n_side:
            A = sp.hstack([A, sp.csr_matrix((A.shape[0], n_side))], format="csr")
            side = np.array([v.kind in ("up", "dn") for v in viols])  # rule cuts have no side
            if side.any():
                ks = np.array([v.cell for v in viols])[side]
                dirs = np.array([1 if v.kind == "up" else -1 for v in viols])[side]
                As, rs = policy_rows(A[side], rhs[side], p, (ks, dirs))
                A = sp.vstack([As, A[~side]], format="csr")
                rhs = np.concatenate([rs, rhs[~side]])
        model.add_rows(A, rhs, np.full(rhs.size, np.inf))
        stats["cuts"] += rhs.size
        return rhs.size

    # incumbent from the heuristic: an upper bound; its cuts seed the master
    found: list = []
    best_x, hst = heuristic(p, say, deadline, cuts=found, cleanup_budget=_budget(deadline, 0.1))
    stats["lps"] += hst.get("lps", 0)
    add(found)
    best_cost = float(p.cost[best_x > 0.5].sum())
    say(f"heuristic incumbent: cost {best_cost:g}", force=True)

    def lp_rounds(limit: int) -> None:
        """Cut loop on the LP relaxation: cheap, and it lifts the bound every MIP starts from."""
        model.set_integer(False)
        last_obj, stall = -np.inf, 0
        for rnd in range(limit):
            if remaining() == 0.0:
                break
            sol = model.solve(time_limit=remaining())
            if not sol.has_solution:
                break
            viols = sep.violations(sol.x[:n], sol.x[n:] if n_side else None)
            stats["cut_rounds"] += 1
            added = add(viols)
            say(f"LP round {rnd + 1}: bound {sol.objective:.6g}, {added} cut(s)")
            if not added:
                break
            stall = stall + 1 if sol.objective < last_obj + 1e-6 * max(1.0, abs(last_obj)) else 0
            last_obj = sol.objective
            if stall >= 3:
                break
        model.set_integer(True)

    lp_rounds(max_root_rounds)
    lower = float(p.cost[p.force_hidden].sum())
    proven = False
    # While integer solutions still fail the audit, a near-optimal master solution is as good
    # a source of cuts as the optimum and far cheaper; the requested gap applies once one passes.
    search_gap = max(mip_gap, 0.02)
    proving = False
    while True:
        rem = remaining()
        if rem == 0.0:
            break
        # no MIP start: highspy 1.16's setSolution leaves a stale solution and a wrong objective
        if export_model:
            _export(model, export_model)
        gap_now = mip_gap if proving else search_gap
        cap = rem if (proving or rem is None) else max(5.0, 0.25 * rem)
        sol = model.solve(time_limit=cap, mip_gap=gap_now,
                          mip_abs_gap=(0.5 if integral else None))
        stats["mip_solves"] += 1
        if sol.status == "infeasible":
            raise InfeasibleError("no pattern protects every sensitive cell (the master problem is infeasible)")
        if np.isfinite(sol.bound):
            lower = max(lower, sol.bound - tb_total)
        if integral and lower > best_cost - 1 + 1e-6:
            proven = True
            break
        if not sol.has_solution:
            if proving or remaining() == 0.0:
                break
            proving = True
            continue
        xs = np.round(sol.x[:n])
        side = np.round(sol.x[n:]) if n_side else None
        viols = sep.violations(xs, side)
        if p.policy:
            viols += _rule_cuts(p, xs)
        stats["cut_rounds"] += 1
        cost_x = float(p.cost[xs > 0.5].sum())
        say(f"MIP {stats['mip_solves']}: cost {cost_x:g}, bound {lower:.6g}, best {best_cost:g}, "
            f"{len(viols)} violated")
        if not viols:
            if cost_x < best_cost - 1e-9 or best_x is None:
                best_x, best_cost = xs, cost_x
            if sol.status == "optimal" and gap_now <= mip_gap:
                proven = True
                break
            proving = True
            continue
        add(viols)
        # repair the failing MIP solution into a protected pattern: a new incumbent
        if cost_x < best_cost:
            found = []
            rx, rst = heuristic(p, None, deadline, x0=xs, cuts=found, cleanup_budget=_budget(deadline, 0.05))
            add(found)
            stats["lps"] += rst.get("lps", 0)
            rc = float(p.cost[rx > 0.5].sum())
            if rc < best_cost:
                best_x, best_cost = rx, rc
        lp_rounds(5)
    stats["lps"] += sep.n_lps
    if integral:
        lower = float(np.ceil(lower - 1e-6))
    proven = proven or (best_cost - lower) <= 1e-9
    if not proven:
        stats["note"] = (f"stopped before proving optimality: cost {best_cost:g}, lower bound {lower:g}")
    return best_x, min(lower, best_cost), proven, stats


def _budget(deadline, share: float) -> float | None:
    """A share of the time left (None: no limit)."""
    if deadline is None:
        return None
    return max(0.0, share * (deadline - time.perf_counter()))


def _rule_cuts(p: Problem, x: np.ndarray) -> list[Violation]:
    """No-good cuts for equations whose hidden cells have a known sum in 1..T (policy):
    hide one more cell of the equation, or un-hide one of the hidden ones."""
    out = []
    for _, hid, pub in equation_sum_disclosures(p, x):
        coef = np.zeros(p.n)
        coef[pub] = 1.0
        free_hid = hid[~p.force_hidden[hid]]
        coef[free_hid] = -1.0
        out.append(Violation(-1, "rule", 1.0 - free_hid.size, 0.0, coef))
    return out


def _export(model, path: str) -> None:
    h = getattr(model, "h", None)
    if h is not None:
        h.writeModel(str(path))
    elif hasattr(model, "export"):
        model.export(path)
