"""ctest python_cli: python -m squeeze env / check / stats and squeeze-plots (test_cli.py) with
the plugin and squeeze-a2a just built ($SQUEEZE_PLUGIN, $SQUEEZE_A2A). Exits 77 (ctest: skipped)
when this Python lacks pytest; the plots' tests skip without matplotlib."""
import os
import sys

try:
    import pytest
except ImportError as e:
    print(f"skipped: {sys.executable} lacks {e.name} (set -DSQUEEZE_PYTHON to a Python with "
          "pytest, e.g. the project's .venv)")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-c",
                      os.path.join(os.path.dirname(here), "pytest.ini"),
                      os.path.join(here, "test_cli.py")] + sys.argv[1:]))
