"""Many tables at once: the executors, protect_many, audit_many and ``cellsuppress protect-many``."""
import importlib.util
import pickle

import numpy as np
import pandas as pd
import pytest

import cellsuppress as cs
from cellsuppress.cli import main
from cellsuppress.errors import RuleError
from cellsuppress.executor import (INTERRUPTED, ProcessExecutor, SerialExecutor, WorkerError, make_executor,
                                   run_one)
from cellsuppress.tables.synthetic import generate

HAS_DASK = importlib.util.find_spec("distributed") is not None


def small_table(seed: int):
    """A 2-way table of 100 cells (9 x 9 codes and their totals), about 12 of them sensitive."""
    return generate(dims=2, levels=(9,), seed=seed, mean=40, small_share=0.12).table()


def unprotectable_table():
    """Every cell's upper bound is its value, so no sensitive cell can be protected upwards."""
    t = small_table(99)
    t.ub = t.values.copy()
    return t


@pytest.fixture(scope="module")
def tables():
    return {f"t{s}": small_table(s) for s in range(6)}


@pytest.fixture(scope="module")
def expected(tables):
    """Each table protected alone by protect(), the reference for every way of running many."""
    return {name: cs.protect(t, method="fast") for name, t in tables.items()}


def assert_matches(frame, results, tables, expected):
    assert list(frame["name"]) == list(tables)
    for row in frame.itertuples():
        ref = expected[row.name]
        res = results[row.name]
        np.testing.assert_array_equal(res.hidden, ref.hidden)
        assert res.cost == ref.cost == row.cost
        assert row.hidden == ref.hidden.sum()
        assert row.cells == tables[row.name].n_cells
        assert row.verdict == "SAFE" and row.error == ""
        assert res.table is tables[row.name]  # the caller's table, not a copy from a worker


# -- the executors ----------------------------------------------------------------------------

ITEMS = ["2 + 3", "1 / 0", "[7] * 2", "int('x')", "__import__('warnings').warn('careful') or 9"]


@pytest.mark.parametrize("executor", [SerialExecutor(), ProcessExecutor(2)], ids=["serial", "processes"])
def test_executor_keeps_order_and_each_items_exception(executor):
    seen = []
    out = executor.map(eval, ITEMS, progress=lambda i, o: seen.append(i))
    assert [o.value for o in out] == [5, None, [7, 7], None, 9]
    assert [o.error for o in out] == [None, "ZeroDivisionError", None, "ValueError", None]
    assert "division by zero" in out[1].message and "ZeroDivisionError" in out[1].traceback
    assert sorted(seen) == [0, 1, 2, 3, 4]
    with pytest.raises(ZeroDivisionError):
        out[1].get()  # the worker's exception, brought back
    assert out[2].get() == [7, 7]
    assert out[4].warnings == [(UserWarning, "careful")] and out[0].warnings == []


def test_run_many_names_the_table_of_each_warning():
    from cellsuppress.many import run_many

    with pytest.warns(UserWarning, match="^table b: careful$"):
        out = run_many(eval, ["1", "__import__('warnings').warn('careful')"], ["a", "b"], SerialExecutor(),
                       progress=False)
    assert [o.ok for o in out] == [True, True]


def test_a_function_workers_cannot_receive_is_refused_at_once():
    with pytest.raises(TypeError, match="cannot be sent to worker processes"):
        ProcessExecutor(2).map(lambda x: x, [1, 2])


class Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def raise_unpicklable(item):
    raise Unpicklable(item, "b")


def test_exception_that_cannot_cross_a_process_keeps_its_name_and_traceback():
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(Unpicklable(1, 2)))
    o = run_one(raise_unpicklable, "a", crossing=True)
    assert o.exception is None and o.error == "Unpicklable"
    assert o.error_line == "Unpicklable: a and b"
    pickle.loads(pickle.dumps(o))  # the outcome itself goes back to the caller
    with pytest.raises(WorkerError, match="Unpicklable: a and b") as e:
        o.get()
    assert "raise_unpicklable" in str(e.value)  # the traceback from the worker


PID = "__import__('os').getpid()"


@pytest.mark.slow
def test_the_workers_serve_every_map_until_closed():
    with ProcessExecutor(2) as ex:
        first = {o.value for o in ex.map(eval, [PID] * 6)}
        second = {o.value for o in ex.map(eval, [PID] * 6)}
        # the same two workers served both maps (a map may reach only one of them)
        assert len(first | second) <= 2
    assert ex._pool is None  # closed: the next map starts new workers
    import os
    assert os.getpid() not in first


@pytest.mark.slow
def test_workers_started_ahead_serve_the_first_map():
    with ProcessExecutor(2) as ex:
        ex.start()  # in the background
        ex.start(wait=True)
        started = {o.value for o in ex.map(eval, [PID] * 4)}
        assert ex._pool is not None and len(started) <= 2
    import os
    assert os.getpid() not in started
    SerialExecutor().start(wait=True)  # nothing to start


@pytest.mark.slow
def test_a_worker_that_dies_costs_only_its_own_item():
    items = ["1", "2", "__import__('os')._exit(3)", "4", "5", "6"]
    with ProcessExecutor(2) as ex:
        out = ex.map(eval, items)
        assert [o.value for o in out] == [1, 2, None, 4, 5, 6]
        assert out[2].error == "WorkerDied" and "died" in out[2].message
        assert [o.value for o in ex.map(eval, ["7", "8"])] == [7, 8]  # a new pool for the next map


RAISE_CTRL_C = "(_ for _ in ()).throw(KeyboardInterrupt)"
CTRL_C_HANDLED = """
import os, signal, time
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    pass  # as protect does: it returns its best pattern
"""


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt here, as in a terminal, even where the test run inherited
    it ignored (a background job of a non-interactive shell does)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_in_this_process_keeps_what_was_done(ctrl_c_raises):
    out = SerialExecutor().map(eval, ["1", "2", RAISE_CTRL_C, "4"])
    assert [o.value for o in out[:2]] == [1, 2]
    assert [o.error for o in out] == [None, None, INTERRUPTED, INTERRUPTED]
    with pytest.raises(KeyboardInterrupt):
        out[3].get()
    # a call that handles Ctrl-C itself and returns: the loop still stops after it
    out = SerialExecutor().map(exec, ["x = 1", CTRL_C_HANDLED, "x = 3"])
    assert [o.error for o in out] == [None, None, INTERRUPTED]


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_at_once(ctrl_c_raises):
    import os
    import signal
    import threading
    import time

    with ProcessExecutor(2) as ex:
        ex.map(eval, ["0"])  # the workers are up
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
        t0 = time.perf_counter()
        timer.start()
        out = ex.map(eval, ["1", "__import__('time').sleep(60)", "__import__('time').sleep(60)", "4"])
        assert time.perf_counter() - t0 < 30  # not waiting for the calls that were running
        assert [o.error for o in out[1:3]] == [INTERRUPTED, INTERRUPTED]
        assert all(o.ok or o.error == INTERRUPTED for o in out)
        assert [o.value for o in ex.map(eval, ["5"])] == [5]  # the executor serves on


def test_make_executor_checks_its_arguments():
    assert isinstance(make_executor(workers=1), SerialExecutor)
    assert make_executor(workers=3).slots == 3
    assert make_executor().slots >= 1
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(RuleError, match="workers must be a whole number"):
            make_executor(workers=bad)
    with pytest.raises(RuleError, match="not both"):
        make_executor(workers=2, client=object())
    with pytest.raises(RuleError, match="dask.distributed Client"):
        make_executor(client=object())


def highs_threads(_):
    """The threads option of a HiGHS model made here (0: HiGHS's own choice)."""
    import scipy.sparse as sp

    from cellsuppress.solvers import LinearProgram, make_model

    lp = LinearProgram(c=[1.0], A=sp.csr_matrix((0, 1)), row_lo=[], row_hi=[], col_lo=[0], col_hi=[1])
    return make_model(lp).h.getOptionValue("threads")[1]


@pytest.mark.slow
def test_worker_init_runs_in_each_worker_and_leaves_this_process_alone():
    from cellsuppress.solvers import one_thread

    with make_executor(workers=2, worker_init=one_thread) as ex:
        assert {o.get() for o in ex.map(highs_threads, range(4))} == {1}
    with make_executor(workers=2) as ex:
        assert {o.get() for o in ex.map(highs_threads, range(2))} == {0}
    # one worker runs in this process, which may have solved with HiGHS's threads already
    assert make_executor(workers=1, worker_init=one_thread).map(highs_threads, [0])[0].get() == 0
    assert highs_threads(0) == 0
    with pytest.raises(TypeError, match="cannot be sent to worker processes"):
        make_executor(workers=2, worker_init=lambda: None)


def solved_threads(_):
    """The threads option of a HiGHS MILP solved here, and how the solve ended."""
    import scipy.sparse as sp

    from cellsuppress.solvers import LinearProgram, make_model

    lp = LinearProgram(c=[1.0, 1.0], A=sp.csr_matrix([[1.0, 1.0]]), row_lo=[1.5], row_hi=[np.inf],
                       col_lo=[0, 0], col_hi=[3, 3], integer=np.array([True, True]))
    model = make_model(lp)
    return model.h.getOptionValue("threads")[1], model.solve().status


def process_threads():
    """The thread count set_threads gave this process (None: HiGHS's own choice)."""
    from cellsuppress.solvers import highs

    return highs._threads


def test_one_thread_after_solves_on_highs_own_threads():
    # HiGHS sizes a thread's scheduler at its first solve and fails a later solve there that asks
    # another size: a thread that solved before one_thread (a Dask worker's) must still solve
    import threading

    from cellsuppress.solvers import one_thread, set_threads

    seen = []

    def work():
        seen.append(solved_threads(0))
        one_thread()
        try:
            seen.extend([solved_threads(1), solved_threads(2)])
        finally:
            set_threads(None)
        seen.append(solved_threads(3))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [(0, "optimal"), (1, "optimal"), (1, "optimal"), (0, "optimal")]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed (the 'dask' extra)")
def test_worker_init_runs_on_every_dask_worker_while_the_executor_is_open():
    from distributed import Client, LocalCluster

    from cellsuppress.dask_plugin import PREFIX
    from cellsuppress.executor import DaskExecutor
    from cellsuppress.solvers import one_thread

    def plugins(client):
        on_workers = client.run(lambda dask_worker: sorted(dask_worker.plugins))
        names = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.worker_plugins))
        return [n for n in names + sum(on_workers.values(), []) if n.startswith(PREFIX)]

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        # the worker solves on HiGHS's own threads first, as a cluster that served other work has
        assert [o.get() for o in make_executor(client=client).map(solved_threads, range(2))] == [(0, "optimal")] * 2
        with make_executor(client=client, worker_init=one_thread) as ex:
            assert isinstance(ex, DaskExecutor)
            assert [o.get() for o in ex.map(solved_threads, range(3))] == [(1, "optimal")] * 3
            cluster.scale(2)  # a worker that joins later runs worker_init too
            client.wait_for_workers(2, timeout=60)
            assert list(client.run(process_threads).values()) == [1, 1]
            assert [o.get() for o in ex.map(solved_threads, range(4))] == [(1, "optimal")] * 4
            assert len(plugins(client)) == 3  # on the scheduler and on both workers
        assert plugins(client) == []  # close took it off the cluster
        assert list(client.run(process_threads).values()) == [1, 1]  # what it set stays (documented)
        assert process_threads() is None  # never in this process

    # a cluster whose workers are threads of this process: worker_init is not run there
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with make_executor(client=client, worker_init=one_thread) as ex:
            assert [o.get() for o in ex.map(solved_threads, range(2))] == [(0, "optimal")] * 2
    assert process_threads() is None
    with pytest.raises(TypeError, match="cannot be sent to worker processes"):
        make_executor(client=client, worker_init=lambda: None)


def test_set_threads_checks_its_argument():
    from cellsuppress.solvers import SolverError, set_threads

    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(SolverError, match="threads must be a whole number"):
            set_threads(bad)


# -- protect_many -----------------------------------------------------------------------------

def test_protect_many_in_this_process_matches_protect(tables, expected):
    frame, results = cs.protect_many(tables, workers=1, method="fast", progress=False, return_results=True)
    assert_matches(frame, results, tables, expected)
    assert list(frame.columns) == ["name", "cells", "hidden", "cost", "lower_bound", "gap", "optimal", "verdict",
                                   "seconds", "error"]


def test_protect_many_on_two_workers_matches_protect(tables, expected):
    frame, results = cs.protect_many(tables, workers=2, method="fast", progress=False, return_results=True)
    assert_matches(frame, results, tables, expected)
    # the results came through pickling and still serve the release views
    assert results["t0"].published().shape[0] == tables["t0"].n_cells


@pytest.mark.slow
def test_protect_many_optimal_on_two_workers_matches_protect(tables):
    few = {k: tables[k] for k in ("t0", "t2", "t3")}
    frame, results = cs.protect_many(few, workers=2, progress=False, return_results=True)
    for name, t in few.items():
        ref = cs.protect(t)
        np.testing.assert_array_equal(results[name].hidden, ref.hidden)
        row = frame.set_index("name").loc[name]
        assert row.cost == ref.cost and row.lower_bound == ref.lower_bound and bool(row.optimal)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed (the 'dask' extra)")
def test_protect_many_on_a_dask_cluster_matches_protect(tables, expected):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        frame, results = cs.protect_many(tables, client=client, method="fast", progress=False,
                                         return_results=True)
        bad = cs.protect_many([tables["t1"], unprotectable_table()], client=client, method="fast",
                              progress=False)
    assert_matches(frame, results, tables, expected)
    assert list(bad["verdict"]) == ["SAFE", "ERROR"]
    assert bad["error"][1].startswith("InfeasibleError: ")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_table_leaves_the_others_intact(tables, expected, workers):
    items = [tables["t0"], unprotectable_table(), tables["t1"], pd.DataFrame({"n": [1]})]
    frame, results = cs.protect_many(items, workers=workers, method="fast", progress=False, return_results=True)
    assert list(frame["name"]) == [0, 1, 2, 3]
    assert list(frame["verdict"]) == ["SAFE", "ERROR", "SAFE", "ERROR"]
    err = frame.loc[1]
    assert err["error"].startswith("InfeasibleError: ") and "cannot be protected" in err["error"]
    assert "\n" not in err["error"]
    assert err["cells"] == 100 and pd.isna(err["hidden"]) and pd.isna(err["cost"])
    assert frame.loc[3, "error"].startswith("TableError: protect needs a cellsuppress Table")
    assert results[1] is None and results[3] is None
    for pos, name in ((0, "t0"), (2, "t1")):
        np.testing.assert_array_equal(results[pos].hidden, expected[name].hidden)
        assert frame.loc[pos, "cost"] == expected[name].cost


def test_protect_many_takes_linked_sets_as_items(tables):
    """An item that is a list is a set of linked tables, protected together as protect does."""
    from cellsuppress import Table

    rng = np.random.default_rng(3)
    people = pd.DataFrame({"age": rng.choice(list("abcd"), 400), "sex": rng.choice(list("mf"), 400),
                           "region": rng.choice(list("xyz"), 400)})
    linked = [Table.from_microdata(people, dims=["age", "sex"]), Table.from_microdata(people, dims=["age", "region"])]
    frame, results = cs.protect_many({"set": linked, "t0": tables["t0"]}, workers=1, method="fast",
                                     progress=False, return_results=True)
    ref = cs.protect(linked, method="fast")
    assert frame.loc[0, "cells"] == ref.hidden.size and frame.loc[0, "cost"] == ref.cost
    assert [p.hidden.sum() for p in results["set"].results] == [p.hidden.sum() for p in ref.results]


def test_protect_many_progress_on_stderr(tables, capsys):
    cs.protect_many({"good": tables["t0"], "bad": unprotectable_table()}, workers=1, method="fast")
    err = capsys.readouterr().err
    assert "protect: 2 tables in this process" in err
    assert "table bad: InfeasibleError" in err
    assert "2/2 tables done, 1 failed" in err
    cs.protect_many({"good": tables["t0"]}, workers=1, method="fast", progress=False)
    assert capsys.readouterr().err == ""


def test_protect_many_checks_its_arguments_before_any_work(tables):
    with pytest.raises(RuleError, match="threshhold"):
        cs.protect_many(tables, workers=1, threshhold=10)
    with pytest.raises(RuleError, match="tables must be a list or a dict"):
        cs.protect_many(tables["t0"].frame, workers=1)
    with pytest.raises(RuleError, match="workers must be"):
        cs.protect_many(tables, workers=0)
    frame = cs.protect_many({}, workers=2, progress=False)
    assert frame.empty and "error" in frame


# -- audit_many -------------------------------------------------------------------------------

def test_audit_many_verdict_per_table(tables, expected):
    names = ["t0", "t1", "t2"]
    items = {n: tables[n] for n in names}
    patterns = {"t0": expected["t0"].hidden, "t1": np.zeros(100, dtype=bool), "t2": np.zeros(7, dtype=bool)}
    frame, reports = cs.audit_many(items, hidden=patterns, workers=1, progress=False, return_results=True)
    assert list(frame["verdict"]) == ["SAFE", "NOT SAFE", "ERROR"]
    n_sensitive = int(((tables["t1"].values >= 1) & (tables["t1"].values <= 20)).sum())
    t1 = frame.set_index("name").loc["t1"]
    assert t1.hidden == 0 and t1.sensitive == n_sensitive and t1.unprotected == n_sensitive
    assert frame.loc[0, "hidden"] == expected["t0"].hidden.sum() and frame.loc[0, "unprotected"] == 0
    assert "t2" in frame["name"].tolist() and frame.loc[2, "error"] != "" and reports["t2"] is None
    assert reports["t0"].ok and not reports["t1"].ok


def test_audit_many_patterns_as_a_list_must_match_the_tables(tables):
    with pytest.raises(RuleError, match="2 patterns for 3 tables"):
        cs.audit_many([tables["t0"]] * 3, hidden=[None, None], workers=1)
    with pytest.raises(RuleError, match="no pattern for table"):
        cs.audit_many({"a": tables["t0"]}, hidden={"b": None}, workers=1)


# -- the command line -------------------------------------------------------------------------

def write_tables(directory, seeds):
    directory.mkdir()
    for s in seeds:
        generate(dims=2, levels=(9,), seed=s, mean=40, small_share=0.12,
                 names=["region", "age"]).frame.to_csv(directory / f"t{s}.csv", index=False)


def test_cli_protect_many_writes_each_table_and_a_summary(tmp_path, capsys):
    src = tmp_path / "in"
    write_tables(src, [0, 1])
    (src / "broken.csv").write_text("region,age,n\n1,1,5\n1,2,-3\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["protect-many", str(src), "--dims", "region,age", "--count", "n", "-o", str(out),
                 "--method", "fast", "--workers", "1", "--quiet"])
    stdout, stderr = capsys.readouterr()
    assert code == 1  # one table failed
    assert stderr == ""
    assert "2 of 3 tables protected" in stdout and "broken: TableError" in stdout
    summary = pd.read_csv(out / "summary.csv").fillna({"error": ""})
    assert list(summary["name"]) == ["broken", "t0", "t1"]
    assert summary.loc[0, "error"].startswith("TableError: ") and "line 3" in summary.loc[0, "error"]
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv", "t0.csv", "t1.csv"]
    # each table's output is what protect -o writes for it
    one = tmp_path / "t1.csv"
    assert main(["protect", str(src / "t1.csv"), "--dims", "region,age", "--count", "n", "-o", str(one),
                 "--method", "fast", "--quiet"]) == 0
    capsys.readouterr()
    assert (out / "t1.csv").read_text() == one.read_text()
    assert summary.loc[2, "hidden"] == pd.read_csv(one)["hidden"].sum()


@pytest.mark.slow
def test_cli_protect_many_on_two_workers(tmp_path, capsys):
    src = tmp_path / "in"
    write_tables(src, [0, 1, 2])
    out = tmp_path / "out"
    code = main(["protect-many", *(str(src / f"t{s}.csv") for s in range(3)), "--dims", "region,age",
                 "--count", "n", "-o", str(out), "--summary", str(tmp_path / "s.csv"), "--method", "fast",
                 "--workers", "2"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stdout + stderr
    assert "3/3 tables done" in stderr
    summary = pd.read_csv(tmp_path / "s.csv", dtype={"error": str}).fillna({"error": ""})
    assert list(summary["verdict"]) == ["SAFE"] * 3 and (summary["error"] == "").all()
    assert sorted(p.name for p in out.iterdir()) == ["t0.csv", "t1.csv", "t2.csv"]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed (the 'dask' extra)")
def test_cli_protect_many_on_a_dask_scheduler(tmp_path, capsys):
    from distributed import Client, LocalCluster

    from cellsuppress.dask_plugin import PREFIX

    src = tmp_path / "in"
    write_tables(src, [0, 1])
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code = main(["protect-many", str(src), "--dims", "region,age", "--count", "n", "-o", str(out),
                     "--method", "fast", "--scheduler", cluster.scheduler_address, "--quiet"])
        stdout, stderr = capsys.readouterr()
        with Client(cluster) as client:
            threads = client.run(process_threads)
            left = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert code == 0, stdout + stderr
    assert "2 of 2 tables protected and audited SAFE" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv", "t0.csv", "t1.csv"]
    assert list(threads.values()) == [1, 1]  # the workers solved on one thread
    assert not [n for n in left if n.startswith(PREFIX)]  # and the command took its plugin away


@pytest.mark.parametrize("extra, message", [
    (["--dims", "region,age;region"], "one --dims list"),
    (["--dims", "region,age", "--workers", "0"], "expected a whole number >= 1"),
    (["--dims", "region,age", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
])
def test_cli_protect_many_bad_arguments(tmp_path, capsys, extra, message):
    src = tmp_path / "in"
    write_tables(src, [0])
    code = main(["protect-many", str(src), "--count", "n", "-o", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_protect_many_refuses_outputs_that_clash(tmp_path, capsys):
    src = tmp_path / "in"
    write_tables(src, [0])
    (src / "summary.csv").write_text((src / "t0.csv").read_text())
    code = main(["protect-many", str(src), "--dims", "region,age", "--count", "n", "-o", str(tmp_path / "out")])
    assert code == 2 and "--summary" in capsys.readouterr().err
    code = main(["protect-many", str(src), "--dims", "region,age", "--count", "n", "-o", str(src)])
    assert code == 2 and "also an input" in capsys.readouterr().err
    jj = tmp_path / "x.jj"
    jj.write_text("0\n")
    code = main(["protect-many", str(jj), "--dims", "region,age", "--count", "n", "-o", str(tmp_path / "out")])
    assert code == 2 and "protect a .jj file with protect" in capsys.readouterr().err
