"""cellsuppress: optimal complementary cell suppression with a verifying audit.

>>> import pandas as pd, cellsuppress as cs
>>> df = pd.DataFrame({"r": list("aabb"), "c": list("xyxy"), "n": [3, 40, 25, 30]})
>>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
>>> cs.protect(t).audit.ok
True
"""
from .errors import (AuditError, CellSuppressError, HierarchyError, InfeasibleError, JJFormatError,
                     NonAdditiveWarning, RuleError, SolverError, TableError, VerificationError)
from .tables import Hierarchy, LinearTable, Table
from .auditing import AuditReport, audit
from .protect import protect
from .result import Result
from .many import audit_many, protect_many
from .io.jj import read_jj, write_jj

__version__ = "0.1.0"

__all__ = ["Hierarchy", "LinearTable", "Table", "protect", "Result", "audit", "AuditReport", "protect_many",
           "audit_many", "read_jj", "write_jj", "CellSuppressError", "TableError", "HierarchyError", "RuleError",
           "AuditError", "InfeasibleError", "SolverError", "VerificationError", "JJFormatError", "NonAdditiveWarning"]
