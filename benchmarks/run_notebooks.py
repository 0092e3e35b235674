"""Execute every notebook top to bottom, each in a fresh kernel, and print the seconds it took.

python benchmarks/run_notebooks.py              # run only; the files are left untouched
python benchmarks/run_notebooks.py --inplace    # also store the new outputs (`make notebooks`)
python benchmarks/run_notebooks.py notebooks/03_padding_and_stride.ipynb   # just some

With --inplace, each PNG figure is stored with a palette of its 256 most used colours (Pillow's
`quantize`): about two fifths of the size, and the same to the eye, since matplotlib draws text,
lines and colour maps with few colours. Figures of photos are JPEGs already
(`helpers.plotting.show_as_jpeg`) and are left alone.
"""

import argparse
import base64
import io
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from PIL import Image

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def palette_png(png: bytes) -> bytes:
    """The PNG `png` with at most 256 colours, or `png` itself if that is not smaller."""
    image = Image.open(io.BytesIO(png))
    if image.mode == "P":  # stored with a palette already
        return png
    opaque = image.convert("RGBA").getextrema()[3][0] == 255
    # A median cut finds the better palette, but only for RGB; with transparency, an octree.
    method = Image.Quantize.MEDIANCUT if opaque else Image.Quantize.FASTOCTREE
    image = image.convert("RGB" if opaque else "RGBA")
    image = image.quantize(256, method, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return min(buffer.getvalue(), png, key=len)


def compact_figures(nb: nbformat.NotebookNode) -> None:
    """Store every PNG output of `nb` as `palette_png` makes it."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                png = palette_png(base64.b64decode(data["image/png"]))
                data["image/png"] = base64.b64encode(png).decode("ascii")


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
            compact_figures(nb)
            nbformat.write(nb, path)
    print(f"{'total':45s} {total:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
