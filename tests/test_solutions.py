"""Every exercise's solution, run through that exercise's check, answers ✅.

A notebook's Solutions block holds python blocks; each block that calls a check is run in a fresh
namespace that holds the notebook's imports and the functions its code cells define (the
lesson's own helpers, such as notebook 07's `conv_block`), without its data or training. The
other blocks try a solution on the notebook's data, and are read, not run.
"""

import ast
import contextlib
import io
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
CHECK_CALL = re.compile(r"^\s*(check_\w+)\(", re.MULTILINE)


def code_cells(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def solutions(notebook: dict) -> str:
    (block,) = [
        "".join(c["source"])
        for c in notebook["cells"]
        if "<summary>Solutions</summary>" in "".join(c["source"])
    ]
    return block


def namespace(path: Path, notebook: dict) -> dict:
    """The notebook's imports and the functions its cells define (not its exercises')."""
    names: dict = {}
    for source in code_cells(notebook):
        if CHECK_CALL.search(source):
            continue  # an exercise: its solution takes the place of its template
        for node in ast.parse(source).body:
            if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef):
                code = compile(ast.Module([node], type_ignores=[]), str(path), "exec")
                # A function whose default argument is the notebook's data is left out: a
                # solution that calls it fails, with the same NameError.
                with contextlib.suppress(NameError):
                    exec(code, names)
    return names


NOTEBOOKS_WITH_EXERCISES = [
    path for path in sorted(NOTEBOOKS.glob("*.ipynb")) if "<summary>Solutions" in path.read_text()
]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS_WITH_EXERCISES, ids=lambda path: path.stem)
def test_every_solution_passes_its_exercises_check(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    asked = [name for source in code_cells(notebook) for name in CHECK_CALL.findall(source)]
    blocks = [block for block in PYTHON_BLOCK.findall(solutions(notebook)) if "check_" in block]
    answered = [name for block in blocks for name in CHECK_CALL.findall(block)]
    assert sorted(answered) == sorted(asked), "each exercise's check, once in the solutions"
    names = namespace(path, notebook)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, f"{path.name}, Solutions", "exec"), names)
    lines = printed.getvalue().splitlines()
    assert len(lines) == len(asked) and all(line.startswith("✅") for line in lines), lines
