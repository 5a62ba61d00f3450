"""Small helpers shared by the tests (independent of the library's own code paths)."""
from cellsuppress import Hierarchy


def leaves_below(h: Hierarchy, code: str) -> set:
    """Leaves of ``h`` under ``code``, found by walking up from every leaf."""
    out = set()
    for leaf in h.leaves:
        c = leaf
        while c is not None:
            if c == code:
                out.add(leaf)
                break
            c = h.parent_of(c)
    return out


def time_bound(limit: float, grace: float = 5.0) -> float:
    """The most wall-clock seconds a run given ``limit`` may take: the limit plus 10% plus
    ``grace`` for the work done after it (the final audit) and for a loaded machine, where
    other processes share the cores. A run that ignores its limit still overshoots it by far."""
    return 1.1 * limit + grace
