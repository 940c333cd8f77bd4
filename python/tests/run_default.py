"""The python tests of the default test command (ctest: python_codec): the codec binding,
squeeze-model's arithmetic, the committed lossless-corpus sample (tests/data/lossless) and the
row-layout helpers (the plugin's part skips when no built plugin is found), numpy
only, a second or two. Exits 77 (ctest: skipped) when this Python lacks numpy or pytest; the
codec tests skip when libsqueeze_c.so is missing. Torch-marked tests are left out (run them with:
.venv/bin/python -m pytest python/tests)."""
import os
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print(f"skipped: {sys.executable} lacks {e.name} (set -DSQUEEZE_PYTHON to a Python with "
          "numpy and pytest, e.g. the project's .venv)")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-m", "not torch",
                      "-c", os.path.join(os.path.dirname(here), "pytest.ini"),
                      os.path.join(here, "test_codec.py"), os.path.join(here, "test_model.py"),
                      os.path.join(here, "test_lossless_sample.py"),
                      os.path.join(here, "test_layout.py")]
                     + sys.argv[1:]))
