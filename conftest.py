"""The doctests (``--doctest-modules`` on src/cellsuppress) run on the package the tests import.

Every module of ``cellsuppress`` is imported here from wherever ``import cellsuppress`` finds it:
site-packages after ``pip install .``, the source tree when it is installed editable or on
PYTHONPATH. The import mode ``importlib`` then collects the doctests of src/cellsuppress/*.py
from these modules instead of loading a module that nothing imported yet a second time, from
src/, into the installed package.
"""
import importlib
import pkgutil

import cellsuppress

# Modules that need an optional extra which is not installed: their doctests are not collected
# (the tests of those extras skip with their reason). Any other import error still fails.
OPTIONAL = {"distributed": "dask", "dask": "dask", "pyscipopt": "scip"}

collect_ignore = []
for _module in pkgutil.walk_packages(cellsuppress.__path__, "cellsuppress."):
    try:
        importlib.import_module(_module.name)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in OPTIONAL:
            raise
        collect_ignore.append("src/" + _module.name.replace(".", "/") + ".py")
