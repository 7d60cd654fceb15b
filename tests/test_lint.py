"""The code base passes ruff (pyflakes, pycodestyle, import order, bugbear, a complexity cap)
and mypy (every module, the floor and the pure rules strictly); config in pyproject.toml. Part
of the suite so that CI holds everyone to it (`make lint` and `make typecheck` run them alone).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "kassa", "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
