"""The smallest public instance (TARGUS, tau-ARGUS JJ, kept in tests/data) solved end to end with
its own levels and costs: through the library and through the command line."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import cellsuppress as cs
from cellsuppress.auditing.report import audit

TARGUS = Path(__file__).resolve().parent / "data" / "TARGUS.jj"


@pytest.fixture(scope="module")
def targus():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cs.NonAdditiveWarning)  # rounded at the source
        return cs.read_jj(TARGUS)


@pytest.fixture(scope="module")
def targus_result(targus):
    return cs.protect(targus, preset="custom", cost="file", time_limit=120)


def test_targus_is_solved_to_optimality_and_audited(targus, targus_result):
    res = targus_result
    sensitive = targus.status == "u"
    assert res.hidden[sensitive].all()
    assert res.audit.ok
    # an independent audit with the file's own levels agrees
    rep = audit(targus, res.hidden, preset="custom")
    assert rep.ok
    hid = rep.frame[rep.frame["sensitive"].eq(True)]
    assert (hid["hi"] >= hid["value"] + targus.upl[hid.index] - 1e-6).all()
    assert res.optimal and res.gap == 0
    assert res.cost == pytest.approx(targus.cost[res.hidden].sum())
    assert res.lower_bound <= res.cost + 1e-9


def test_targus_pattern_minus_any_secondary_cell_fails(targus, targus_result):
    """Optimality in practice: no secondary cell of the optimal pattern can be dropped."""
    res = targus_result
    secondary = np.flatnonzero(res.hidden & (targus.status != "u"))
    assert secondary.size > 0
    for j in secondary:
        h = res.hidden.copy()
        h[j] = False
        assert not audit(targus, h, preset="custom").ok


def cellsuppress_command(*args, cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``cellsuppress`` command in a fresh process, on the package these tests import.
    The installed script when it sits beside this interpreter, as a user runs it; from a source
    tree without one, its module."""
    script = Path(sys.executable).with_name("cellsuppress")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "cellsuppress.cli"]
    package_root = str(Path(cs.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_targus_through_the_command_line(tmp_path, targus, targus_result):
    """``cellsuppress protect TARGUS.jj -o hidden.txt`` (the file's levels and costs by default)
    writes the optimal pattern, and ``cellsuppress audit TARGUS.jj --hidden hidden.txt`` passes it."""
    out = cellsuppress_command("protect", TARGUS, "-o", "hidden.txt", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SAFE" in out.stdout and "Traceback" not in out.stderr
    idx = [int(i) for i in (tmp_path / "hidden.txt").read_text().split()]
    hidden = np.zeros(targus.n_cells, bool)
    hidden[idx] = True
    assert hidden[targus.status == "u"].all()
    assert targus.cost[hidden].sum() == pytest.approx(targus_result.cost)
    assert audit(targus, hidden, preset="custom").ok

    out = cellsuppress_command("audit", TARGUS, "--hidden", "hidden.txt", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SAFE" in out.stdout and "NOT SAFE" not in out.stdout
