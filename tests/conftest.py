"""Shared test set-up: draw off-screen, close every figure a test opens, run code unprivileged,
see what a fresh Python imports."""

import ast
import ctypes
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

REPOSITORY = Path(__file__).resolve().parent.parent
# Linux's prctl option and capability numbers (linux/prctl.h, linux/capability.h).
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def run_unprivileged():
    """Run Python code in a child process that file permissions apply to, even under root.

    CI runs as root, which may read and write anything: the child keeps root's user id (so it can
    still read the virtual environment) but loses the capabilities that bypass permissions
    (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so a folder of mode 0o555 refuses it a file.
    Returns `run(code, *args, env=None)` -> `subprocess.CompletedProcess` (text output).
    """

    def drop_permission_bypass():
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")

    def run(code: str, *args: str, env=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=REPOSITORY,
            env={**os.environ, **(env or {})},
            preexec_fn=drop_permission_bypass if os.geteuid() == 0 else None,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


@pytest.fixture
def frameworks_imported_by():
    """`imported(statement)`: which of Keras and TensorFlow a fresh Python has imported once it
    has run `statement`, as a sorted list (the NumPy lessons must load neither)."""

    def imported(statement: str) -> list[str]:
        code = (
            f"import sys; {statement}; print(sorted({{'keras', 'tensorflow'}} & set(sys.modules)))"
        )
        child = subprocess.run(
            [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, check=True
        )
        return ast.literal_eval(child.stdout.strip())

    return imported
