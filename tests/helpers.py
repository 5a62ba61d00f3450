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
