"""The website (`make site`): built as the Makefile builds it, then every page opened in headless
Chromium (Debian's packages chromium and chromium-driver) and checked for broken links, broken
images, JavaScript errors, files loaded from outside the site, and notebook figures that are
missing or have no alt text. Screenshots of two pages go to build/site-screenshots/."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "site-screenshots"
SCREENSHOT_PAGES = ["index.html", "notebooks/02_convolution_by_hand.html"]
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
# What a page shows once loaded; figures are the <img> inside a notebook cell's output.
PAGE_FACTS = """return {
  links: [...document.querySelectorAll("a[href], link[href]")].map(a => a.href),
  ids: [...document.querySelectorAll("[id], a[name]")].map(e => e.id || e.name),
  images: [...document.images].map(i => ({
    src: i.currentSrc || i.src, loaded: i.complete && i.naturalWidth > 0,
    alt: i.getAttribute("alt") || "", figure: i.closest(".cell_output") !== null})),
  resources: performance.getEntriesByType("resource").map(r => r.name),
};"""


def chromium():
    """Headless Chromium driven by Debian's chromedriver; skipped if absent (failed under CI)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        reason = "no Chromium here: install the packages chromium and chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true, so the browser test must run)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ["--headless=new", "--window-size=1280,900", "--disable-dev-shm-usage"]:
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def figures_in(notebook: Path) -> int:
    """How many image outputs a notebook has stored."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    return sum(any(kind in output.get("data", {}) for kind in IMAGE_TYPES) for output in outputs)


def problems_of(site: Path, pages: dict) -> list[str]:
    """Every broken link, broken image, file from outside the site, notebook without its page or
    its figures, and figure without alt text in `pages` ({page: PAGE_FACTS}), a line each."""
    problems = []
    for page, facts in pages.items():
        for url in facts["links"]:
            parts = urlsplit(url)
            if parts.scheme != "file":
                continue  # a link to the web, not part of the site
            target = Path(unquote(parts.path))
            name = target.relative_to(site).as_posix() if target.is_relative_to(site) else None
            if name is None or not target.is_file():
                problems.append(f"{page}: link to a missing file {url}")
            elif parts.fragment and name in pages and parts.fragment not in pages[name]["ids"]:
                problems.append(f"{page}: link to a missing anchor {name}#{parts.fragment}")
        for image in facts["images"]:
            if not image["loaded"]:
                problems.append(f"{page}: broken image {image['src']}")
            if image["figure"] and image["src"].endswith(Path(image["alt"]).name):
                problems.append(f"{page}: figure without alt text {image['src']}")
        outside = [url for url in facts["resources"] if not url.startswith(site.as_uri())]
        problems += [f"{page}: loads {url} from outside the site" for url in outside]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = f"notebooks/{notebook.stem}.html"
        if page not in pages:
            problems.append(f"{notebook.name} has no page")
            continue
        shown, stored = sum(i["figure"] for i in pages[page]["images"]), figures_in(notebook)
        if shown < stored:
            problems.append(f"{page}: shows {shown} of the notebook's {stored} figures")
    return problems


@pytest.mark.slow
def test_every_page_of_the_site_works_in_a_browser(tmp_path):
    browser = chromium()
    site, pages, errors = tmp_path / "site", {}, []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going"]
            + ["-d", tmp_path / "doctrees", "-c", "site", ".", site],
            cwd=ROOT,
            check=True,
            timeout=300,
        )
        for path in sorted(site.rglob("*.html")):
            page = path.relative_to(site).as_posix()
            if page.startswith("_static/"):
                continue  # the theme's template snippets, not pages
            browser.get(path.as_uri())
            pages[page] = browser.execute_script(PAGE_FACTS)
            errors += [
                f"{page}: JavaScript console: {entry['message']}"
                for entry in browser.get_log("browser")
                if entry["level"] == "SEVERE"
            ]
            if page in SCREENSHOT_PAGES:
                browser.execute_script(
                    "document.querySelector('.cell_output img')?.scrollIntoView()"
                )
                browser.save_screenshot(
                    SCREENSHOTS / page.replace("/", "_").replace(".html", ".png")
                )
    finally:
        browser.quit()
    problems = errors + problems_of(site, pages)
    assert not problems, f"{len(problems)} problems on the site:\n" + "\n".join(problems)
