"""Every error the package raises on purpose derives from :class:`CellSuppressError`.

A ``CellSuppressError`` is a ``ValueError``: the input (a table, a hierarchy, a
parameter, a file) or the request cannot be honoured, and the message names the
cell, code, line or parameter. :class:`VerificationError` is the exception: the
package's own pattern failed its audit, which is a bug to report, never a table
to publish.

>>> from cellsuppress import CellSuppressError, InfeasibleError
>>> issubclass(InfeasibleError, CellSuppressError), issubclass(CellSuppressError, ValueError)
(True, True)
"""
from __future__ import annotations


class CellSuppressError(ValueError):
    """Base class of the package's errors."""


class TableError(CellSuppressError):
    """The input table is invalid (bad counts, inconsistent margins, unknown codes, ...)."""


class HierarchyError(TableError):
    """A hierarchy is malformed (cycle, two parents, several roots, ...)."""


class RuleError(CellSuppressError):
    """A sensitivity rule, preset or parameter cannot be applied."""


class AuditError(CellSuppressError):
    """The pattern or the published values cannot be audited."""


class InfeasibleError(CellSuppressError):
    """No suppression pattern can protect some sensitive cells."""


class SolverError(CellSuppressError):
    """A solver is missing, unknown, or failed."""


class VerificationError(CellSuppressError):
    """A pattern made by the package failed its own audit: an internal error, never published."""


class JJFormatError(CellSuppressError):
    """A JJ file that cannot be read: the message names the file and the 1-based line.

    ``filename`` and ``lineno`` are also attributes (``lineno`` is ``None`` when
    the problem is not on a line, e.g. the file ends too early).
    """

    def __init__(self, message: str, filename: str = "<jj>", lineno: int | None = None):
        self.filename = filename
        self.lineno = lineno
        self.reason = message
        where = f"{filename}, line {lineno}" if lineno is not None else filename
        super().__init__(f"{where}: {message}")


class NonAdditiveWarning(UserWarning):
    """Some relations ``M y = rhs`` do not hold with the table's values."""
