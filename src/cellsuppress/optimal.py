"""The optimal method: the master MILP of capacity cuts, grown by the attacker LPs until its
solution passes every one of them (DESIGN.md §2).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .heuristic import heuristic
from .model import InfeasibleError, Problem, integral_costs, master_program, policy_rows, tie_break
from .separation import Separator, Violation, equation_sum_disclosures
from .solvers import make_model


def optimal(p: Problem, say, deadline, mip_gap: float, solver: str, max_root_rounds: int = 50,
            export_model: str | None = None) -> tuple[np.ndarray, float, bool, dict]:
    """Row generation on the master MILP: cuts at the LP relaxation first, then at each integer
    solution, until the solution passes every attacker LP. Returns ``(x, lower bound, optimal, stats)``.
    """
    stats = {"cut_rounds": 0, "cuts": 0, "lps": 0, "mip_solves": 0}
    sep = Separator(p)
    n = p.n
    n_side = int(p.sensitive.sum()) if p.policy else 0
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
    best_x, hst = heuristic(p, say, deadline, cuts=found, cleanup_budget=budget(deadline, 0.1))
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
            rx, rst = heuristic(p, None, deadline, x0=xs, cuts=found, cleanup_budget=budget(deadline, 0.05))
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


def budget(deadline, share: float) -> float | None:
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

