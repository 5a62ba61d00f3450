"""cellsuppress: optimal complementary cell suppression with a verifying audit.

>>> import pandas as pd, cellsuppress as cs
>>> df = pd.DataFrame({"r": list("aabb"), "c": list("xyxy"), "n": [3, 40, 25, 30]})
>>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
>>> cs.protect(t).audit.ok
True
"""
from .hierarchy import Hierarchy, HierarchyError
from .linear import LinearTable
from .table import Table, TableError
from .rules import RuleError
from .audit import AuditError, AuditReport
from .model import InfeasibleError
from .protect import Result
from .io.jj import JJFormatError, NonAdditiveWarning, read_jj, write_jj
from .audit import audit  # noqa: E402  (the function; the module stays importable as cellsuppress.audit)
from .protect import protect

__version__ = "0.1.0"

__all__ = ["Hierarchy", "HierarchyError", "LinearTable", "Table", "TableError", "RuleError", "AuditError",
           "AuditReport", "InfeasibleError", "Result", "JJFormatError", "NonAdditiveWarning", "read_jj",
           "write_jj", "audit", "protect"]
