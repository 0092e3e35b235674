"""tools/student_edition.py: the project without solutions, everything else the same."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SCRIPT = REPOSITORY / "tools" / "student_edition.py"


def write(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=120
    )


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("out") / "student"
    result = write(folder)
    assert result.returncode == 0, result.stderr
    assert f"11 notebooks without their solutions, is in {folder}" in result.stdout
    return folder


def test_the_notebooks_lose_their_solutions_and_nothing_else(edition):
    for original in sorted((REPOSITORY / "notebooks").glob("*.ipynb")):
        full, student = cells(original), cells(edition / "notebooks" / original.name)
        changed = [(a, b) for a, b in zip(full, student, strict=True) if a != b]
        assert len(changed) == (0 if original.name.startswith("00") else 1), original.name
        for before, after in changed:  # the solutions go; the navigation line after them stays
            text = "".join(before["source"])
            assert text.startswith("<details><summary>Solutions</summary>")
            assert "".join(after["source"]) == text.split("</details>")[-1].strip("\n")
            assert {**before, "source": None} == {**after, "source": None}
        assert not any("<details>" in "".join(c["source"]) for c in student)


def test_everything_else_is_copied_unchanged(edition):
    copied = ["README.md", "Makefile", "pyproject.toml", "constraints.txt", "data/README.md"]
    for name in [*copied, "site/conf.py"]:
        assert (edition / name).read_bytes() == (REPOSITORY / name).read_bytes(), name
    for path in (REPOSITORY / "helpers").rglob("*.py"):
        assert (edition / path.relative_to(REPOSITORY)).read_bytes() == path.read_bytes()
    assert not list(edition.rglob("__pycache__"))
    assert not (edition / "tests").exists() and not (edition / "tools").exists()


def test_the_edition_imports_its_own_helpers(edition):
    code = "import helpers.checks, helpers.numpy_cnn; print(helpers.numpy_cnn.__file__)"
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=edition, capture_output=True, text=True, check=True
    )
    assert Path(child.stdout.strip()).is_relative_to(edition)


def test_a_second_run_replaces_the_edition(edition):
    (edition / "notebooks" / "scribbles.ipynb").write_text("{}")
    result = write(edition)
    assert result.returncode == 0, result.stderr
    assert not (edition / "notebooks" / "scribbles.ipynb").exists()
    assert not [p for p in edition.parent.iterdir() if p.name.startswith(".student-")]


def test_a_folder_it_did_not_write_is_left_alone(tmp_path):
    folder = tmp_path / "lesson"
    folder.mkdir()
    (folder / "work.txt").write_text("mine")
    result = write(folder)
    assert result.returncode != 0
    assert "is not a student edition written by this script" in result.stderr
    assert [p.name for p in folder.iterdir()] == ["work.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["lesson"]
