"""The smallest public instance (TARGUS, tau-ARGUS JJ) solved end to end with its own levels."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import cellsuppress as cs
from cellsuppress.auditing.report import audit

INSTANCES = Path(__file__).resolve().parents[1].parent / "shared" / "instances"


@pytest.fixture(scope="module")
def targus():
    path = INSTANCES / "TARGUS.jj"
    if not path.exists():
        pytest.skip("shared instances not available in this checkout")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cs.NonAdditiveWarning)  # rounded at the source
        return cs.read_jj(path)


def test_targus_is_solved_to_optimality_and_audited(targus):
    res = cs.protect(targus, preset="custom", cost="file", time_limit=120)
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


def test_targus_pattern_minus_any_secondary_cell_fails(targus):
    """Optimality in practice: no secondary cell of the optimal pattern can be dropped."""
    res = cs.protect(targus, preset="custom", cost="file", time_limit=120)
    secondary = np.flatnonzero(res.hidden & (targus.status != "u"))
    assert secondary.size > 0
    for j in secondary:
        h = res.hidden.copy()
        h[j] = False
        assert not audit(targus, h, preset="custom").ok
