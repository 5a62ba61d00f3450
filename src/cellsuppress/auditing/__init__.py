"""The audit: what an attacker can derive from a suppressed table.

:mod:`.intervals` computes feasibility intervals with LPs (or MILPs),
:mod:`.certify` verifies attacker moves that protect many cells at once, and
:mod:`.report` turns intervals into verdicts (:func:`audit`).
"""
from .report import AuditReport, audit

__all__ = ["AuditReport", "audit"]
