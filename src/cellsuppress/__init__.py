"""cellsuppress: optimal complementary cell suppression with a verifying audit."""
from .hierarchy import Hierarchy, HierarchyError
from .linear import LinearTable
from .table import Table, TableError

__version__ = "0.1.0"
