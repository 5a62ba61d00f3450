"""``python -m cellsuppress.cli``: the ``cellsuppress`` command."""
import sys

from . import main

if __name__ == "__main__":  # not when a tool imports the module (pytest collects the docstrings of every module)
    sys.exit(main())
