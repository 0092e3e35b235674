"""Execute every notebook top to bottom, each in a fresh kernel, and print the seconds it took.

python benchmarks/run_notebooks.py              # run only; the files are left untouched
python benchmarks/run_notebooks.py --inplace    # also store the new outputs (`make notebooks`)
python benchmarks/run_notebooks.py notebooks/03_padding_and_stride.ipynb   # just some
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    parser.add_argument("--inplace", action="store_true", help="save the outputs in the files")
    args = parser.parse_args()
    paths = args.paths or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            timeout=1800,
            kernel_name="python3",
            resources={"metadata": {"path": path.parent}},
            coalesce_streams=True,  # one output per stream; a progress bar keeps its last state
        )
        start = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as exc:
            print(f"{path.name}: FAILED\n{exc}", file=sys.stderr)
            return 1
        seconds = time.perf_counter() - start
        total += seconds
        print(f"{path.name:45s} {seconds:7.1f} s", flush=True)
        if args.inplace:
            nbformat.write(nb, path)
    print(f"{'total':45s} {total:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
