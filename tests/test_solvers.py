"""Solver backends: HiGHS in memory and PuLP (CBC bundled) agree; statuses, new rows, export."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from cellsuppress.solvers import HighsModel, LinearProgram, Solution, SolverError, make_model
from cellsuppress.solvers.background import BackgroundSolve
from cellsuppress.solvers.pulp_backend import PulpModel, available_solvers
from helpers import time_bound

INF = np.inf


def backends():
    return [lambda lp: HighsModel(lp), lambda lp: PulpModel(lp, "cbc")]


BACKENDS = pytest.mark.parametrize("make", backends(), ids=["highs", "cbc"])


def small_lp(maximize=False) -> LinearProgram:
    # max x + 2y  s.t.  x + y <= 4,  -1 <= x - y <= 1 (two-sided),  x, y >= 0  ->  (1.5, 2.5), 6.5
    sign = 1.0 if maximize else -1.0
    return LinearProgram(c=sign * np.array([1.0, 2.0]), A=sp.csr_matrix([[1.0, 1.0], [1.0, -1.0]]),
                         row_lo=[-INF, -1.0], row_hi=[4.0, 1.0], col_lo=[0, 0], col_hi=[INF, INF],
                         maximize=maximize)


def small_milp() -> LinearProgram:
    # min 3a + 2b + 4c + d  s.t.  3a + 2b + 3c >= 6,  b + c + d == 2,  binaries  ->  a = c = d = 1: 8
    # (unique; the LP relaxation gives 7)
    return LinearProgram(c=[3.0, 2.0, 4.0, 1.0],
                         A=sp.csr_matrix([[3.0, 2.0, 3.0, 0.0], [0.0, 1.0, 1.0, 1.0]]),
                         row_lo=[6.0, 2.0], row_hi=[INF, 2.0], col_lo=np.zeros(4), col_hi=np.ones(4),
                         integer=np.ones(4, dtype=bool))


@pytest.mark.parametrize("maximize", [False, True])
def test_lp_same_objective_and_duals(maximize):
    h = HighsModel(small_lp(maximize)).solve()
    p = PulpModel(small_lp(maximize), "cbc").solve()
    assert h.status == p.status == "optimal"
    want = 6.5 if maximize else -6.5
    assert h.objective == pytest.approx(want) and p.objective == pytest.approx(want)
    assert p.bound == pytest.approx(want)
    np.testing.assert_allclose(p.x, [1.5, 2.5], atol=1e-7)
    # duals of an LP: one per row (a two-sided row is two PuLP constraints, summed), same sign as HiGHS
    assert p.row_duals is not None and p.row_duals.shape == (2,)
    np.testing.assert_allclose(p.row_duals, h.row_duals, atol=1e-7)


def test_milp_same_objective():
    h = HighsModel(small_milp()).solve(mip_gap=0)
    p = PulpModel(small_milp(), "cbc").solve(mip_gap=0)
    assert h.status == p.status == "optimal"
    assert h.objective == pytest.approx(8.0) and p.objective == pytest.approx(8.0)
    np.testing.assert_allclose(p.x, [1, 0, 1, 1], atol=1e-7)
    assert p.bound == pytest.approx(8.0)
    assert p.row_duals is None  # no duals for a MIP


@BACKENDS
def test_relaxation_and_back(make):
    m = make(small_milp())
    m.set_integer(False)
    assert m.relaxed
    lp = m.solve()
    assert lp.status == "optimal"
    assert lp.objective == pytest.approx(7.0)  # below the MILP optimum 8
    assert lp.row_duals is not None
    m.set_integer(True)
    assert not m.relaxed
    assert m.solve().objective == pytest.approx(8.0)


def test_relaxation_bounds_agree():
    h = HighsModel(small_milp())
    p = PulpModel(small_milp(), "cbc")
    for m in (h, p):
        m.set_integer(False)
    assert h.solve().objective == pytest.approx(p.solve().objective)


@BACKENDS
def test_infeasible(make):
    lp = LinearProgram(c=[1, 1], A=sp.csr_matrix([[1.0, 1.0]]), row_lo=[5], row_hi=[5], col_lo=[0, 0],
                       col_hi=[2, 2])
    sol = make(lp).solve()
    assert sol.status == "infeasible" and sol.x is None
    lp.integer = np.ones(2, dtype=bool)
    sol = make(lp).solve()
    assert sol.status == "infeasible" and not sol.has_solution
    assert make(lp).solve(time_limit=5).status == "infeasible"
    # integer-infeasible only: x + y == 1.5 has LP solutions
    lp.row_lo, lp.row_hi = np.array([1.5]), np.array([1.5])
    assert make(lp).solve(time_limit=5).status == "infeasible"


@BACKENDS
def test_unbounded(make):
    lp = LinearProgram(c=[1.0, 0, 0], A=sp.csr_matrix([[1.0, 1.0, -1.0]]), row_lo=[0], row_hi=[0],
                       col_lo=[1, 0, 3], col_hi=[INF, INF, INF], maximize=True)
    assert make(lp).solve().status == "unbounded"
    milp = LinearProgram(c=[-1.0, -1.0], A=sp.csr_matrix([[1.0, -1.0]]), row_lo=[0], row_hi=[0],
                         col_lo=[0, 0], col_hi=[INF, INF], integer=np.ones(2, dtype=bool))
    assert make(milp).solve().status == "unbounded"


@BACKENDS
def test_objective_changes_in_place(make):
    # the audit's pattern: one model, min and max of each column
    lp = LinearProgram(c=np.zeros(3), A=sp.csr_matrix([[-1.0, 1.0, 1.0]]), row_lo=[0], row_hi=[0],
                       col_lo=[8, 0, 0], col_hi=[8, INF, INF])
    m = make(lp)
    out = []
    for j in (1, 2):
        c = np.zeros(3)
        c[j] = 1
        for mx in (False, True):
            m.set_objective(c, maximize=mx)
            out.append(m.solve().objective)
    assert out == pytest.approx([0, 8, 0, 8])


@BACKENDS
def test_add_rows_then_resolve(make):
    m = make(small_milp())
    assert m.solve().objective == pytest.approx(8.0)
    # forbid c: then b + d = 2 gives b = 1 and 3a + 2 >= 6 needs a >= 4/3: infeasible
    m.add_rows(sp.csr_matrix([[0.0, 0.0, 1.0, 0.0]]), [-INF], [0.0])
    assert m.solve().status == "infeasible"
    # a fresh model: rows that push the optimum to another pattern
    m = make(small_milp())
    m.add_rows(sp.csr_matrix([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]), [1.0, -INF], [INF, 0.0])
    sol = m.solve()
    # a = 1, d = 0: b + c = 2 -> 3 + 2 + 4 = 9
    assert sol.status == "optimal" and sol.objective == pytest.approx(9.0)
    np.testing.assert_allclose(sol.x, [1, 1, 1, 0], atol=1e-7)
    # no rows: nothing changes
    m.add_rows(sp.csr_matrix((0, 4)), [], [])
    assert m.solve().objective == pytest.approx(9.0)


@BACKENDS
def test_two_sided_row_added(make):
    lp = small_lp(maximize=True)
    lp.A = sp.csr_matrix(lp.A[:1])
    lp.row_lo, lp.row_hi = lp.row_lo[:1], lp.row_hi[:1]
    m = make(lp)
    assert m.solve().objective == pytest.approx(8.0)  # y = 4
    m.add_rows(sp.csr_matrix([[1.0, -1.0]]), [-1.0], [1.0])
    assert m.solve().objective == pytest.approx(6.5)


@BACKENDS
def test_delete_rows_then_resolve(make):
    m = make(small_milp())
    m.add_rows(sp.csr_matrix([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]), [1.0, -INF], [INF, 0.0])
    assert m.n_rows == 4 and m.solve().objective == pytest.approx(9.0)
    m.delete_rows(np.array([3]))  # d may come back: a = c = d = 1 again
    assert m.n_rows == 3 and m.solve().objective == pytest.approx(8.0)
    # rows added after a deletion are new rows, and the earlier ones keep their places
    m.add_rows(sp.csr_matrix([[0.0, 0.0, 1.0, 0.0]]), [-INF], [0.0])
    assert m.n_rows == 4 and m.solve().status == "infeasible"
    m.delete_rows(np.array([2, 3]))  # neither a >= 1 nor c = 0: the original optimum
    assert m.n_rows == 2 and m.solve().objective == pytest.approx(8.0)


@BACKENDS
def test_col_bounds(make):
    m = make(small_milp())
    m.set_col_bounds(np.array([3]), np.array([0.0]), np.array([0.0]))  # no d: b = c = 1, then a = 1: 9
    assert m.solve().objective == pytest.approx(9.0)
    m.set_col_bounds(np.array([3]), np.array([0.0]), np.array([1.0]))
    assert m.solve().objective == pytest.approx(8.0)


def test_time_limit_status():
    # a set-cover MILP CBC cannot finish in a hundredth of a second; whatever it returns is consistent
    rng = np.random.default_rng(0)
    n, m = 150, 120
    A = sp.random(m, n, density=0.06, random_state=1, format="csr")
    A.data[:] = 1
    A = A[np.diff(A.indptr) >= 3]
    lp = LinearProgram(c=rng.integers(1, 100, n), A=A, row_lo=np.full(A.shape[0], 2.0),
                       row_hi=np.full(A.shape[0], INF), col_lo=np.zeros(n), col_hi=np.ones(n),
                       integer=np.ones(n, dtype=bool))
    best = HighsModel(lp).solve().objective
    # CBC stopped by the clock in preprocessing may call the MIP infeasible (about one run in
    # ten here): the backend must not pass that on
    for tl in (0.001, 0.003, 0.01) * 4:
        sol = PulpModel(lp, "cbc").solve(time_limit=tl)
        assert sol.status in ("optimal", "time_limit")
        if sol.has_solution:
            assert sol.objective >= best - 1e-6
            assert (A @ sol.x >= 2 - 1e-6).all()
        if np.isfinite(sol.bound):
            assert sol.bound <= best + 1e-6
    # with a relative gap, the reported bound is CBC's proven bound, not the solution's objective
    sol = PulpModel(lp, "cbc").solve(mip_gap=0.5)
    assert sol.status == "optimal"
    assert sol.bound <= best + 1e-6 <= sol.objective + 2e-6


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_export_pulp(tmp_path, suffix):
    m = PulpModel(small_milp(), "cbc")
    m.add_rows(sp.csr_matrix([[0.0, 0.0, 0.0, 1.0]]), [-INF], [0.0])
    path = tmp_path / f"model{suffix}"
    m.export(path)
    text = path.read_text()
    assert text.strip()
    # readable: HiGHS reads it back and finds the same optimum (d = 0: a = b = c = 1, 9)
    h = read_back(path)
    assert h.getObjectiveValue() == pytest.approx(9.0)
    assert h.getLp().num_row_ == 3


def test_export_pulp_maximize_mps_keeps_sense(tmp_path):
    m = PulpModel(small_lp(maximize=True), "cbc")
    path = tmp_path / "max.mps"
    m.export(path)
    assert read_back(path).getObjectiveValue() == pytest.approx(6.5)


def read_back(path):
    """The exported model read by HiGHS itself (not through the package) and solved."""
    import highspy

    from cellsuppress.solvers.highs import take_banner

    take_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    return h


@BACKENDS
def test_export_unknown_suffix(tmp_path, make):
    with pytest.raises(SolverError, match="suffix"):
        make(small_lp()).export(tmp_path / "model.txt")
    assert not list(tmp_path.iterdir())


@BACKENDS
@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_export_to_a_missing_directory_names_it(tmp_path, make, suffix):
    path = tmp_path / "nodir" / f"m{suffix}"
    with pytest.raises(SolverError, match="nodir.*does not exist"):
        make(small_milp()).export(path)
    assert not (tmp_path / "nodir").exists()


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_export_highs_with_added_rows(tmp_path, suffix):
    m = HighsModel(small_milp())
    m.add_rows(sp.csr_matrix([[0.0, 0.0, 0.0, 1.0]]), [-INF], [0.0])
    path = tmp_path / f"model{suffix}"
    m.export(path)
    h = read_back(path)
    assert h.getObjectiveValue() == pytest.approx(9.0)
    assert h.getLp().num_row_ == 3


def test_export_highs_mps(tmp_path):
    m = HighsModel(small_milp())
    path = tmp_path / "highs.mps"
    m.export(path)
    assert path.exists() and "ROWS" in path.read_text()
    # PuLP reads HiGHS's MPS too
    import pulp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _, prob = pulp.LpProblem.fromMPS(str(path))
        prob.solve(pulp.PULP_CBC_CMD(msg=False))
    assert pulp.value(prob.objective) == pytest.approx(8.0)


def test_unknown_solver_names_it():
    with pytest.raises(SolverError, match="nosuchsolver"):
        make_model(small_lp(), "nosuchsolver")
    with pytest.raises(SolverError, match="nosuchsolver") as e:
        PulpModel(small_lp(), "nosuchsolver")
    assert "cbc" in str(e.value)  # lists what is available


def test_unavailable_solver_lists_available(monkeypatch):
    import cellsuppress.solvers.pulp_backend as pb

    # pretend only CBC is installed, whatever this machine has
    monkeypatch.setattr(pb, "available_solvers", lambda: ("PULP_CBC_CMD",))
    with pytest.raises(SolverError) as e:
        PulpModel(small_lp(), "gurobi")
    msg = str(e.value)
    assert "'gurobi'" in msg and "not available" in msg and "cbc" in msg and "PULP_CBC_CMD" in msg


def test_make_model_dispatch():
    assert isinstance(make_model(small_lp(), "highs"), HighsModel)
    m = make_model(small_lp(), "cbc")
    assert isinstance(m, PulpModel) and m.solver_name in ("PULP_CBC_CMD", "COIN_CMD")
    assert make_model(small_lp(), "cbc", threads=1).solve().objective == pytest.approx(-6.5)
    assert "PULP_CBC_CMD" in available_solvers() or "COIN_CMD" in available_solvers()


def test_empty_model():
    # no rows at all: every column still reaches the solver
    lp = LinearProgram(c=[1.0, -1.0], A=sp.csr_matrix((0, 2)), row_lo=[], row_hi=[], col_lo=[1, 0],
                       col_hi=[3, 2])
    sol = PulpModel(lp, "cbc").solve()
    assert sol.status == "optimal" and sol.objective == pytest.approx(-1.0)
    np.testing.assert_allclose(sol.x, [1, 2])


def test_no_pulp_deprecation_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        m = PulpModel(small_milp(), "cbc")
        m.set_integer(False)
        m.solve()
        m.set_integer(True)
        m.add_rows(sp.csr_matrix([[1.0, 0, 0, 0]]), [0.0], [1.0])
        assert m.solve().status == "optimal"
        m.delete_rows(np.array([2]))
        assert m.solve().status == "optimal"


def _random_cover(seed: int) -> LinearProgram:
    rng = np.random.default_rng(seed)
    n, m = rng.integers(6, 14), rng.integers(3, 10)
    A = (rng.random((m, n)) < 0.4) * rng.integers(1, 20, (m, n)).astype(float)
    rhs = rng.integers(5, 30, m).astype(float)
    c = rng.integers(1, 5, n) + rng.random(n) * 0.01
    return LinearProgram(c=c, A=sp.csr_matrix(A), row_lo=rhs, row_hi=np.full(m, INF), col_lo=np.zeros(n),
                         col_hi=np.ones(n), integer=np.ones(n, dtype=bool))


@pytest.mark.parametrize("seed", [73, 243])
@pytest.mark.parametrize("make", backends(), ids=["highs", "cbc"])
def test_mip_after_its_relaxation(make, seed):
    # protect's master: LP rounds on the relaxation, then the MIP on the same live model. HiGHS 1.16
    # reused the LP's state and returned a wrong objective and bound with a non-optimal x (these
    # seeds: objective 6.0067 and 4.0167 reported, x worth 7.0133 and 6.0223, optimum 7.0083 and
    # 5.0265), all as "optimal"
    lp = _random_cover(seed)
    best = HighsModel(_random_cover(seed)).solve(mip_gap=0).objective
    m = make(lp)
    m.set_integer(False)
    assert m.solve().status == "optimal"
    m.set_integer(True)
    sol = m.solve(mip_gap=0)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(lp.c @ sol.x)
    assert sol.objective == pytest.approx(best)
    assert sol.bound == pytest.approx(best)


def test_pulp_set_option():
    m = PulpModel(small_milp(), "cbc")
    m.set_option("options", ["maxNodes 1000"])  # passed on to CBC's command line
    m.set_option("presolve", False)
    assert m.solve().objective == pytest.approx(8.0)
    m.set_option("presolve", None)
    assert "presolve" not in m.solver_options


def hard_milp(n: int, m: int) -> LinearProgram:
    """A random covering MILP with ``n`` binaries and ``m`` rows; at 600 x 400 HiGHS does not
    solve it in a second."""
    rng = np.random.default_rng(0)
    A = sp.random(m, n, density=0.05, random_state=1, format="csr")
    A.data = np.round(A.data * 10) + 1
    return LinearProgram(c=rng.integers(1, 100, n).astype(float), A=A, row_lo=np.full(m, 20.0),
                         row_hi=np.full(m, INF), col_lo=np.zeros(n), col_hi=np.ones(n),
                         integer=np.ones(n, dtype=bool))


@pytest.mark.slow
def test_highs_time_limit_per_solve():
    # HiGHS counts an LP's limit on the instance's summed run time but a MIP's from the start of
    # its own run: every solve of a live model must stop near its own limit, not double it (a
    # limit that added the time run so far would let the fourth solve run 4 s)
    import time

    model = HighsModel(hard_milp(300, 200))
    for _ in range(4):
        t0 = time.perf_counter()
        sol = model.solve(time_limit=0.5)
        assert time.perf_counter() - t0 < time_bound(0.5, grace=1.0)
        assert sol.status in ("time_limit", "optimal")
    model.set_integer(False)
    for _ in range(2):  # LP re-solves after the MIP's time still run (not "out of time")
        assert model.solve(time_limit=0.5).status == "optimal"



@pytest.mark.slow
def test_background_solve_stops_early_with_its_bound():
    # a slow MILP solved in another thread: the caller's thread runs meanwhile, and stop()
    # ends it at once with a valid bound
    import time

    from cellsuppress.solvers.background import BackgroundSolve

    lp = hard_milp(600, 400)
    t0 = time.perf_counter()
    job = BackgroundSolve(lp, "highs", time_limit=60.0)
    assert job.result() is None  # still solving
    relaxed = HighsModel(lp)
    relaxed.set_integer(False)
    lp_bound = relaxed.solve().objective  # the caller's own solve, while the job runs
    time.sleep(1.0)
    t_stop = time.perf_counter()
    job.stop()
    sol = job.result()
    assert sol is not None and time.perf_counter() - t_stop < time_bound(0.0)  # not its 60 s
    assert sol.status == "time_limit"
    assert lp_bound - 1e-6 <= sol.bound <= sol.objective + 1e-6
    assert (lp.A @ sol.x >= 20 - 1e-6).all()


def test_background_solve_needs_a_backend_that_can_stop():
    from cellsuppress.solvers.background import BackgroundSolve

    with pytest.raises(SolverError, match="cbc backend cannot be stopped"):
        BackgroundSolve(small_milp(), "cbc", time_limit=1.0)


def test_background_solve_that_ignores_its_time_limit_is_left_behind(monkeypatch):
    # HiGHS does not check its time limit everywhere (a neighbourhood solve once ran for minutes
    # in a sub-MIP's presolve): no wait may outlast the limit by more than the grace, the
    # caller gets "time limit, nothing found" and a warning, and the thread ends when it can
    import threading
    import time

    from cellsuppress.solvers import background

    release = threading.Event()

    class Stuck:
        def solve(self, **options):
            release.wait(60.0)
            return Solution(status="optimal", x=np.zeros(2), objective=0.0, bound=0.0)

        can_stop = True

        def stop(self):  # asked, but does not listen
            pass

    monkeypatch.setattr(background, "make_model", lambda lp, solver: Stuck())
    monkeypatch.setattr(background.BackgroundSolve, "GRACE", 0.3)
    t0 = time.perf_counter()
    job = background.BackgroundSolve(small_milp(), "highs", time_limit=0.2)
    assert job.result() is None
    with pytest.warns(RuntimeWarning, match="did not stop at its time limit"):
        sol = job.result(wait=True)
    assert time.perf_counter() - t0 < time_bound(0.2 + 0.3)  # not the 60 s it is stuck for
    assert job.abandoned and sol.status == "time_limit" and not sol.has_solution
    job.stop()  # once abandoned, a stop returns at once
    assert time.perf_counter() - t0 < time_bound(0.2 + 0.3)
    release.set()
    job._thread.join(5.0)
    assert not job._thread.is_alive()


@BACKENDS
def test_row_bounds_change_in_place(make):
    m = make(small_milp())
    m.set_row_bounds([1], [1.0], [2.0])  # b + c + d in [1, 2]: a = c = 1, d = 0: 7
    assert m.solve().objective == pytest.approx(7.0)
    m.set_row_bounds([1], [3.0], [3.0])  # b = c = d = 1, then a = 1: 10
    assert m.solve().objective == pytest.approx(10.0)
    m.set_row_bounds([0, 1], [-INF, 0.0], [INF, 0.0])  # first row free, nothing in the second: 0
    sol = m.solve()
    assert sol.objective == pytest.approx(0.0) and m.n_rows == 2
    m.set_row_bounds(np.array([0, 1]), np.array([6.0, 2.0]), np.array([INF, 2.0]))  # as built: 8
    assert m.solve().objective == pytest.approx(8.0)
    with pytest.raises(ValueError, match="above upper bound"):
        m.set_row_bounds([0], [3.0], [2.0])


def test_pulp_row_bounds_survive_export(tmp_path):
    m = PulpModel(small_milp(), "cbc")
    m.set_row_bounds([1], [3.0], [3.0])
    m.set_row_bounds([1], [1.0], [2.0])  # a two-sided row again: both its constraints, once
    path = tmp_path / "m.lp"
    m.export(path)
    assert read_back(path).getObjectiveValue() == pytest.approx(7.0)


def test_backends_share_one_interface():
    from cellsuppress.solvers import Model

    h, p = HighsModel(small_milp()), PulpModel(small_milp(), "cbc")
    assert isinstance(h, Model) and isinstance(p, Model)
    assert h.can_stop and not p.can_stop
    with pytest.raises(SolverError, match="cannot be stopped"):
        p.stop()
    with pytest.raises(SolverError, match="basis"):
        p.basis()
    # an LP solve is a solve on a backend with one LP algorithm
    p.set_integer(False)
    assert p.solve_lp(time_limit=10).objective == pytest.approx(7.0)


def test_highs_basis_names_columns_and_slacks():
    # (1.5, 2.5) has both columns basic; the loose third row x <= 10 has its slack in the basis
    lp = small_lp(maximize=True)
    m = HighsModel(lp)
    m.add_rows(sp.csr_matrix([[1.0, 0.0]]), [-INF], [10.0])
    assert m.solve().status == "optimal"
    assert sorted(m.basis().tolist()) == [-3, 0, 1]
    m.set_objective([0.0, 0.0])  # any point: still one basic variable per row
    assert m.solve().status == "optimal" and m.basis().size == m.n_rows


def test_check_solver_lists_the_valid_names():
    from cellsuppress.solvers import check_solver

    assert check_solver("highs") == "highs"
    assert check_solver("cbc") in ("PULP_CBC_CMD", "COIN_CMD")
    for bad in ("bogus", None, ""):
        with pytest.raises(SolverError) as e:
            check_solver(bad)
        msg = str(e.value)
        assert repr(bad) in msg and "highs" in msg
    with pytest.raises(SolverError, match="'bogus'.*highs.*cbc"):
        make_model(small_lp(), "bogus")


@pytest.mark.slow
def test_solves_write_nothing_on_stdout(tmp_path):
    # a fresh process (HiGHS prints its banner with the first instance of a process) that runs
    # every kind of solve the package makes: MIPs and LPs in the main thread, a MIP in another
    # thread, CBC through PuLP, the audit; its stdout must hold only what it prints itself
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "solve.py"
    script.write_text("""
import numpy as np, scipy.sparse as sp
import cellsuppress as cs
from cellsuppress.solvers import HighsModel, LinearProgram
from cellsuppress.solvers.background import BackgroundSolve
from cellsuppress.tables.synthetic import generate

rng = np.random.default_rng(0)
A = sp.random(300, 450, density=0.05, random_state=1, format="csr")
A.data = np.round(A.data * 10) + 1
lp = LinearProgram(c=rng.integers(1, 100, 450).astype(float), A=A, row_lo=np.full(300, 20.0),
                   row_hi=np.full(300, np.inf), col_lo=np.zeros(450), col_hi=np.ones(450),
                   integer=np.ones(450, dtype=bool))
job = BackgroundSolve(lp, "highs", time_limit=1.0)
HighsModel(lp).solve(time_limit=1.0)
job.result(wait=True)
t = generate(dims=3, levels=(3,), seed=3, mean=40, small_share=0.2, zero_share=0.05).table()
for solver in ("highs", "cbc"):
    res = cs.protect(t, solver=solver, time_limit=30)
    assert res.audit.ok
assert cs.audit(t, hidden=res.hidden, integer=True).ok
print("only this")
""")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "only this\n"


def _covering_milp():
    """A covering MILP: every cell at 1 is feasible, and HiGHS starts there."""
    rng = np.random.default_rng(5)
    n, m = 40, 60
    A = sp.csr_matrix((rng.uniform(size=(m, n)) < 0.15).astype(float))
    return LinearProgram(c=rng.integers(1, 50, n).astype(float), A=A, row_lo=np.ones(m), row_hi=np.full(m, np.inf),
                         col_lo=np.zeros(n), col_hi=np.ones(n), integer=np.ones(n, dtype=bool),
                         feasible_at_upper=True)


def test_milp_reports_the_solutions_found_before_its_last():
    """A covering MILP: the solutions a solve that asks for them found before its optimum are
    feasible, integral and dearer than the optimum, each cheaper than the one before."""
    lp = _covering_milp()
    A = lp.A
    sol = HighsModel(lp).solve(improving=True)
    assert sol.status == "optimal"
    assert sol.improving
    costs = [float(lp.c @ y) for y in sol.improving]
    assert all(a > b for a, b in zip(costs, costs[1:] + [sol.objective + 1e-9]))
    for y in sol.improving:
        assert np.allclose(y, np.round(y))
        assert (A @ np.round(y) >= 1 - 1e-9).all()


def test_only_a_solve_that_asks_keeps_the_solutions_found_on_the_way():
    """Keeping them is an option of each solve, not of the model: a solve that does not ask (a
    local-branching neighbourhood, a copy solved for the bound) keeps none, before or after one
    of the same model that asked, and in another thread alike."""
    lp = _covering_milp()
    model = HighsModel(lp)
    assert model.solve().improving == []
    asked = model.solve(improving=True, cold=True)
    assert asked.improving
    again = model.solve(cold=True)
    assert again.status == "optimal" and again.improving == []
    assert BackgroundSolve(lp, "highs", time_limit=30.0).result(wait=True).improving == []
    assert BackgroundSolve(lp, "highs", time_limit=30.0, improving=True).result(wait=True).improving
