"""Readers and writers: the tau-ARGUS JJ format (and, later, pandas/CSV helpers)."""
from .jj import JJFormatError, NonAdditiveWarning, read_jj, write_jj

__all__ = ["read_jj", "write_jj", "JJFormatError", "NonAdditiveWarning"]
