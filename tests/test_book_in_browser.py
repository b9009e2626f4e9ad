"""Every page of the built book, opened in headless Chromium with no network.

The book is served from ``_build/html`` by a local HTTP server and each page is loaded by Debian's
``chromium`` driven by Playwright. Any request to another host is aborted and fails the page, so a
page passes only if it works offline. A page fails on:

- an HTTP status other than 200 (for the page or any file it loads from the build);
- an uncaught JavaScript exception or a ``console.error`` message;
- a request to any host but the local server (a CDN, a web font, analytics, ...);
- math that MathJax did not typeset: raw ``\\(``, ``\\[`` or ``$$`` left in the text outside code,
  a MathJax error, or math markup without any ``mjx-container``;
- an ``<img>`` that did not load (``naturalWidth == 0``);
- a widget view left in the page (the book shows widgets by their other form: see _config.yml);
- a code cell or a printed output wider than its box.

Separate tests open the chapters as a reader would: both sidebar drawers, at 1280 and at 390 pixels;
every slider of every figure (metalib.controls), moved with the keyboard, must change the figure;
a figure shown smaller than drawn opens at full size on a click; at 390 pixels no page is wider
than the screen; the content column at 1280 pixels is as wide as tests/test_notebooks_stored.py
assumes when it checks the size of figure text.

A full-page screenshot of every page is saved to ``_build/screenshots/<page>.png`` (not committed),
also for a page that fails, to see what went wrong.

Needs the built book (``bash tools/book.sh``) and Debian's chromium (``bash tools/ensure_chromium.sh``,
which ``bash tools/test.sh`` runs). Without either, the tests fail and say what to run; they never
skip. To leave this module out of a quick run of the unit tests, use pytest's own
``--ignore tests/test_book_in_browser.py``.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
# the content column at 1280 px that the check of figure text size assumes
from test_notebooks_stored import COLUMN_PX

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
TIMEOUT_MS = 20_000

# folders of the build that hold assets, not pages
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads", "_panels_static"}
REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def built_pages() -> list[str]:
    """Every HTML page of the build, as a path relative to _build/html."""
    if not HTML.is_dir():
        return []
    return sorted(
        path.relative_to(HTML).as_posix()
        for path in HTML.rglob("*.html")
        if path.relative_to(HTML).parts[0] not in ASSET_DIRS
    )


# Visible code cells and outputs wider than their box: [scroll width, box width, first long line].
SCROLLING_CODE = """() => [...document.querySelectorAll('.cell_input pre, .cell_output pre')]
    .filter(pre => pre.clientWidth > 0 && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => [pre.scrollWidth, pre.clientWidth,
                 pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '')])"""


def toc_pages() -> list[str]:
    """The HTML page of the root and of every file listed in _toc.yml."""
    def files(entries):
        for entry in entries or []:
            if "file" in entry:
                yield entry["file"]
            yield from files(entry.get("chapters") or entry.get("sections"))
            for part in entry.get("parts") or []:
                yield from files(part.get("chapters"))

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"], *files(toc.get("chapters")), *files(toc.get("sections"))]
    for part in toc.get("parts") or []:
        names += list(files(part.get("chapters")))
    return [str(Path(name).with_suffix("")) + ".html" for name in names]


def require_build() -> None:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"the book is not built ({HTML.relative_to(ROOT)}/index.html is missing): "
                    "run bash tools/book.sh first")


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not os.access(found, os.X_OK):
        pytest.fail("no chromium on this machine: run bash tools/ensure_chromium.sh "
                    "(or set CHROMIUM to a Chromium binary)")
    return found


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        # Chromium asks every site for /favicon.ico by itself (the book has no favicon): answer
        # "no content" so that its 404 is not taken for a broken page. Any other 404 fails the page.
        if self.path.split("?")[0] == "/favicon.ico" and not (HTML / "favicon.ico").is_file():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format, *args):  # noqa: A002 - the name is the base class's
        pass


@pytest.fixture(scope="module")
def server():
    """The build, served on 127.0.0.1 at a free port; yields the base URL."""
    require_build()
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def test_every_toc_page_was_built():
    require_build()
    missing = [page for page in toc_pages() if not (HTML / page).is_file()]
    assert not missing, f"pages of _toc.yml missing from the build: {missing}; run bash tools/book.sh"


# JavaScript run in the page once it has loaded -------------------------------------------------

WAIT_FOR_MATHJAX = """async () => {
    if (!window.MathJax) return "no MathJax";
    const deadline = Date.now() + 15000;
    while (!(MathJax.startup && MathJax.startup.promise)) {   // tex-chtml.js still loading
        if (Date.now() > deadline) return "MathJax did not start";
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    await MathJax.startup.promise;
    return "typeset";
}"""

# Text of the page outside code, scripts and typeset math, to look for TeX that was left raw.
TEXT_OUTSIDE_CODE = """() => {
    const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TEXTAREA", "PRE", "CODE",
                          "KBD", "SAMP", "MJX-CONTAINER"]);
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
        acceptNode(node) {
            for (let el = node.parentElement; el; el = el.parentElement)
                if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
            return NodeFilter.FILTER_ACCEPT;
        }
    });
    const parts = [];
    while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
    return parts.join("");
}"""

MATH_STATE = """() => ({
    markup: document.querySelectorAll(".math, span.math, div.math").length,
    typeset: document.querySelectorAll("mjx-container").length,
    errors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.getAttribute("data-mjx-error") || e.textContent),
})"""

BROKEN_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(img => { img.loading = "eager"; });
    await Promise.all(images.map(img => img.complete ? null :
        new Promise(resolve => { img.addEventListener("load", resolve); img.addEventListener("error", resolve); })));
    return images.filter(img => !(img.complete && img.naturalWidth > 0))
                 .map(img => (img.currentSrc || img.src || "(no src)").slice(0, 120));
}"""

WIDGET_VIEWS = 'script[type="application/vnd.jupyter.widget-view+json"]'


def screenshot_path(page_name: str) -> Path:
    return SCREENSHOTS / Path(page_name).with_suffix(".png")


@pytest.mark.parametrize("page_name", built_pages() or ["(book not built)"])
def test_page_renders_offline(page_name, server, browser):
    require_build()
    problems: list[str] = []
    external: list[str] = []
    local_host = urlsplit(server).netloc

    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)

    def only_local(route):
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob", "about") or urlsplit(url).netloc == local_host:
            route.continue_()
        else:
            external.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"uncaught JavaScript exception: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console error: {msg.text}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} for {r.url}"))
    page.on("requestfailed", lambda r: urlsplit(r.url).netloc == local_host
            and problems.append(f"request failed: {r.url} ({r.failure})"))

    try:
        url = urljoin(server, page_name)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, \
            f"{page_name}: HTTP {response.status if response else 'no response'}"

        source = (HTML / page_name).read_text(encoding="utf-8")
        redirect = REFRESH.search(source)
        if redirect:   # jupyter-book's index.html sends the reader to the root page
            target = urljoin(url, redirect.group(1))
            page.wait_for_url(target)
            page.wait_for_load_state("load")
            source = (HTML / urlsplit(target).path.lstrip("/")).read_text(encoding="utf-8")

        # math: wait until MathJax has typeset the page, then look for what it left
        if "window.MathJax" in source or re.search(r"<script[^>]*mathjax", source, re.I):   # a page with math
            state = page.evaluate(WAIT_FOR_MATHJAX)
            if state != "typeset":
                problems.append(f"MathJax: {state}")
        math = page.evaluate(MATH_STATE)
        if math["markup"] and not math["typeset"]:
            problems.append(f"{math['markup']} math elements but no mjx-container: MathJax did not render")
        problems += [f"MathJax error: {error}" for error in math["errors"]]
        text = page.evaluate(TEXT_OUTSIDE_CODE)
        for raw in ("\\(", "\\[", "$$"):
            at = text.find(raw)
            if at >= 0:
                problems.append(f"raw {raw} in the page text: ...{text[max(0, at - 40):at + 60]!r}...")

        # widgets: none is left as a view that needs a kernel or a widget manager
        views = page.locator(WIDGET_VIEWS).count()
        if views:
            problems.append(f"{views} widget view(s) in the page: a reader without a kernel sees "
                            "nothing there (show them by their text or HTML form, _config.yml)")

        # let late requests (web fonts, lazy images) happen, so that they are checked too
        page.wait_for_load_state("networkidle")

        # images, including those inside rendered widgets (an Output widget's plot)
        problems += [f"image did not load: {src}" for src in page.evaluate(BROKEN_IMAGES)]

        # code and output that fit the page: no visible code cell or output scrolls sideways
        problems += [f"code or output scrolls sideways ({wide}px of {shown}px): {line!r}"
                     for wide, shown, line in page.evaluate(SCROLLING_CODE)]
    finally:
        shot = screenshot_path(page_name)
        shot.parent.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()

    if external:
        problems.insert(0, "requests to other hosts (aborted; the book must work offline): "
                        + ", ".join(sorted(set(external))))
    assert not problems, f"{page_name} (screenshot: {shot.relative_to(ROOT)}):\n  " + "\n  ".join(problems)


# A reader's clicks ---------------------------------------------------------------------------------

CHAPTER = "book/01_mapping.html"

DIALOG_STATE = """(id) => {
    const dialog = document.getElementById(id);
    const links = dialog ? [...dialog.querySelectorAll("a")].filter(a => a.offsetParent !== null) : [];
    return {open: Boolean(dialog && dialog.open), links: links.length};
}"""


@contextlib.contextmanager
def reader_page(browser, server, width: int, page_name: str = CHAPTER):
    """A page as a reader opens it, at a window width; fails on any uncaught JavaScript error."""
    context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(urljoin(server, page_name), wait_until="load")
        page.wait_for_load_state("networkidle")
        yield page
        assert not errors, f"{page_name} at {width}px: {errors}"
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("side", ["primary", "secondary"])
def test_sidebar_drawers_open(side, width, server, browser):
    """The table of contents (primary) and "on this page" (secondary) reach the reader."""
    require_build()
    with reader_page(browser, server, width) as page:
        toggles = page.locator(f".{side}-toggle:visible")
        sidebar = page.locator(f"#pst-{side}-sidebar")
        if toggles.count() == 0:
            # no button: then the sidebar itself must be on the screen, with its links
            assert sidebar.is_visible(), f"{side} sidebar: neither shown nor behind a button at {width}px"
            assert sidebar.locator("a:visible").count() > 3
        elif side == "primary" and width >= 992:
            # on a wide screen the menu button hides the table of contents and shows it again
            assert toggles.count() == 1, f"{toggles.count()} visible {side} buttons at {width}px"
            assert sidebar.is_visible()
            toggles.first.click()
            page.wait_for_timeout(300)
            assert not sidebar.is_visible(), f"the menu button at {width}px did not hide the contents"
            toggles.first.click()
            page.wait_for_timeout(300)
            assert sidebar.is_visible() and sidebar.locator("a:visible").count() > 3
        else:
            assert toggles.count() == 1, f"{toggles.count()} visible {side} buttons at {width}px"
            toggles.first.click()
            page.wait_for_timeout(300)
            state = page.evaluate(DIALOG_STATE, f"pst-{side}-sidebar-modal")
            assert state["open"], f"the {side} button at {width}px opened nothing"
            assert state["links"] > 3, f"the {side} drawer at {width}px shows {state['links']} links"
            page.screenshot(path=str(SCREENSHOTS / f"drawer-{side}-{width}.png"))
            page.keyboard.press("Escape")
            page.wait_for_timeout(300)
            assert not page.evaluate(DIALOG_STATE, f"pst-{side}-sidebar-modal")["open"]


def pages_with_controls() -> list[str]:
    return [page for page in toc_pages()
            if (HTML / page).is_file() and "metalib-controls" in (HTML / page).read_text(encoding="utf-8")]


CONTROL_STATE = """(box) => ({src: box.querySelector("img").src,
                              labels: [...box.querySelectorAll("output")].map(o => o.textContent)})"""


@pytest.mark.parametrize("page_name", pages_with_controls() or ["(no page with sliders)"])
def test_every_slider_changes_its_figure(page_name, server, browser):
    require_build()
    assert page_name != "(no page with sliders)", "no built page has metalib.controls sliders"
    with reader_page(browser, server, 1280, page_name) as page:
        boxes = page.locator(".metalib-controls")
        assert boxes.count() >= 1
        for b in range(boxes.count()):
            box = boxes.nth(b)
            box.scroll_into_view_if_needed()
            sliders = box.locator('input[type="range"]')
            assert sliders.count() >= 1
            for s in range(sliders.count()):
                slider = sliders.nth(s)
                before = box.evaluate(CONTROL_STATE)
                at_end = slider.get_attribute("value") == slider.get_attribute("max")
                slider.focus()
                page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
                after = box.evaluate(CONTROL_STATE)
                name = slider.get_attribute("data-name")
                assert after["src"] != before["src"], f"{page_name}: slider {name} left the figure as it was"
                assert after["labels"] != before["labels"], f"{page_name}: slider {name}'s value did not change"
                loaded = box.evaluate("(box) => box.querySelector('img').naturalWidth")
                assert loaded > 0, f"{page_name}: the frame for slider {name} did not load"
        page.screenshot(path=str(SCREENSHOTS / f"sliders-{Path(page_name).stem}.png"))


def test_a_shrunk_figure_opens_full_size(server, browser):
    require_build()
    with reader_page(browser, server, 1280, "book/04_optimization_based.html") as page:
        column = page.evaluate("() => document.querySelector('article.bd-article').clientWidth")
        assert column >= COLUMN_PX, f"the content column is {column}px at 1280px, not {COLUMN_PX}"
        figure = page.locator("div.cell_output img.zoomable").first
        assert figure.count() == 1, "no figure is shown smaller than drawn on this page"
        figure.scroll_into_view_if_needed()
        figure.click()
        big = page.locator("dialog.figure-zoom[open] img")
        big.wait_for()
        natural, shown = big.evaluate("(img) => [img.naturalWidth, img.clientWidth]")
        assert shown == natural, f"the opened figure is shown at {shown}px of {natural}px"
        big.click()   # a click anywhere on it closes it
        page.wait_for_timeout(200)
        assert page.locator("dialog.figure-zoom[open]").count() == 0


@pytest.mark.parametrize("page_name", toc_pages())
def test_no_page_is_wider_than_a_phone(page_name, server, browser):
    require_build()
    with reader_page(browser, server, 390, page_name) as page:
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        shot = SCREENSHOTS / "390" / Path(page_name).with_suffix(".png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert wide <= 391, f"{page_name} is {wide}px wide on a 390px screen (screenshot: {shot})"


def test_search_shows_excerpts(server, browser):
    """Searching the book lists pages with a text excerpt around the word found."""
    require_build()
    with reader_page(browser, server, 1280, "search.html?q=prototype") as page:
        page.wait_for_selector("#search-results li", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#search-results p.context')]"
            ".some(p => p.textContent.trim().length > 40)", timeout=TIMEOUT_MS)
        excerpt = page.locator("#search-results p.context").first.text_content()
        assert "prototyp" in excerpt.lower(), excerpt
