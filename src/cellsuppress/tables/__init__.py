"""Tables: hierarchies of codes, the dims-free linear table, tables built from pandas, synthetic tables."""
from .hierarchy import Hierarchy
from .linear import LinearTable
from .table import Table

__all__ = ["Hierarchy", "LinearTable", "Table"]
