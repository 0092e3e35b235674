"""Sphinx settings for `make site`: the notebooks as web pages, from their stored outputs.

Run from the repository root (`sphinx-build -c site . build/site`): the README is the home page,
then every notebook in order, with previous/next links, search and every figure. Nothing is
executed, and the pages load nothing from outside the site.
"""

import shutil
from pathlib import Path

project = "cnn-tutorial"
author = "The cnn-tutorial authors"  # as in LICENSE
root_doc = "README"
include_patterns = ["README.md", "notebooks/*.ipynb"]
extensions = ["myst_nb"]
nb_execution_mode = "off"  # the stored outputs, as GitHub shows them
myst_heading_anchors = 2  # the notebooks' links to ../README.md#contents
html_theme = "sphinx_book_theme"
html_title = project
html_context = {"default_mode": "auto"}  # light or dark as the reader's system is


def add_contents(app, docname, source):
    """Give the README, as GitHub shows it, the hidden table of contents that orders the pages
    (the sidebar, previous and next)."""
    if docname == root_doc:
        source[0] += "\n\n```{toctree}\n:hidden:\n:glob:\n\nnotebooks/*\n```\n"


def add_index_html(app, exception):
    """index.html: the home page again, where a browser or web server looks first."""
    if exception is None and app.builder.format == "html":
        outdir = Path(app.outdir)
        shutil.copyfile(outdir / f"{root_doc}.html", outdir / "index.html")


def setup(app):
    app.connect("source-read", add_contents)
    app.connect("build-finished", add_index_html)
