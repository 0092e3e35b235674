"""Write the student edition: a runnable copy of the project whose notebooks hold no solutions.

    python tools/student_edition.py [FOLDER]        (make student; FOLDER: build/student)

The copy holds what a class needs: the notebooks, `helpers/`, `images/`, `site/` (so that
`make site` builds the website of the edition, without solutions), the README and the set-up
files, so `make` works in it as it does here. In each notebook the exercises' solutions,
the `<details><summary>Solutions</summary> ... </details>` block of a markdown cell, are left
out; everything else, the stored outputs included, is the same. The edition is written beside
FOLDER and then takes its place, so a failure never leaves half an edition; an existing FOLDER
is replaced only if an earlier run of this script wrote it.
"""

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPOSITORY / "build" / "student"
# What the copy holds, relative to the repository: folders, then files.
FOLDERS = ["notebooks", "helpers", "images", "site"]
FILES = [
    "README.md",
    "LICENSE",
    "Makefile",
    "pyproject.toml",
    "constraints.txt",
    "environment.yml",
    "jupyterlab-overrides.json",
    "data/README.md",
]
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
MARK = ".student-edition"  # the file that says a folder is an edition this script wrote
SOLUTIONS = re.compile(r"<details><summary>Solutions</summary>.*?</details>\n*", re.DOTALL)


def without_solutions(notebook: dict) -> dict:
    """The notebook with each markdown cell's Solutions block removed (and a cell that held
    nothing else removed too)."""
    cells = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and SOLUTIONS.search(source):
            source = SOLUTIONS.sub("", source).strip("\n")
            if not source:
                continue
            cell = {**cell, "source": source.splitlines(keepends=True)}
        cells.append(cell)
    return {**notebook, "cells": cells}


def write_edition(folder: Path) -> None:
    """Write the student edition into `folder` (see the module's docstring)."""
    folder = folder.resolve()
    if folder.exists() and not (folder / MARK).exists() and any(folder.iterdir()):
        raise SystemExit(
            f"{folder} exists and is not a student edition written by this script: choose "
            "another folder, or empty that one first"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    draft = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name in FOLDERS:
            shutil.copytree(REPOSITORY / name, draft / name, ignore=LEFT_OUT)
        for name in FILES:
            (draft / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / name, draft / name)
        for path in sorted((draft / "notebooks").glob("*.ipynb")):
            notebook = without_solutions(json.loads(path.read_text(encoding="utf-8")))
            text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
        (draft / MARK).write_text(
            "Written by tools/student_edition.py; replaced by its next run.\n"
        )
        if folder.exists():
            shutil.rmtree(folder)
        draft.rename(folder)
    finally:
        shutil.rmtree(draft, ignore_errors=True)  # gone already, unless something failed


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    write_edition(folder)
    notebooks = len(list((folder / "notebooks").glob("*.ipynb")))
    print(f"The student edition, {notebooks} notebooks without their solutions, is in {folder}")


if __name__ == "__main__":
    main()
