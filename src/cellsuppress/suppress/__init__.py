"""Complementary suppression: the problem, the cut families, the fast and the optimal method.

Layers, bottom up: :mod:`.problem` (arrays), :mod:`.model` (solver-neutral MILP pieces),
:mod:`.separation` (attacker LPs over a pattern and the cuts they give),
:mod:`.heuristic` (the fast method), :mod:`.optimal` (row generation on the master).
"""
