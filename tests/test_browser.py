"""Open every page of the built book in a real browser and check that it renders offline.

It checks the book that the session fixture `built_book` (tests/conftest.py) builds from
clean with warnings as errors; to check an existing build instead, set ICL_BOOK_HTML:
    ICL_BOOK_HTML=_build/html pytest tests/test_browser.py

The pages in `_build/html` are served on 127.0.0.1 and opened in Debian's system
Chromium (`apt-get install chromium`) through Python Playwright; Playwright's own
browser download is never used. A page fails on: console errors, uncaught
exceptions, failed or >= 400 same-origin requests, any request to another origin
(readers may be offline), broken images, and math that MathJax did not render.
All problems are collected and reported together.

A full-page screenshot of each page is written to `screenshots/` next to the
HTML folder (`_build/screenshots/` by default), for a person to look at.

"""

import functools
import http.server
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Sphinx's general index and search page, and asset folders, are not book pages.
SKIP_PAGES = {"genindex.html", "search.html"}
SKIP_DIRS = {"_static", "_sources", "_images"}
# A page that never settles should fail, not hang CI.
TIMEOUT_MS = 60_000

# Runs in the page. Returns a list of problems found once images and MathJax have settled.
CHECK_PAGE_JS = r"""async (timeoutMs) => {
  const problems = [];
  const withTimeout = (promise, what) => Promise.race([promise, new Promise(
    (_, reject) => setTimeout(() => reject(new Error(what + " timed out")), timeoutMs))]);

  // Lazy images below the fold would never load in a headless window: ask for them now.
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = "eager"; });
  await withTimeout(Promise.all(images.map((img) => img.complete ? null :
    new Promise((done) => { img.addEventListener("load", done); img.addEventListener("error", done); }))),
    "waiting for images").catch((e) => problems.push(e.message));
  for (const img of images) {
    if (!img.complete || img.naturalWidth === 0) problems.push("broken image " + img.getAttribute("src"));
  }

  // Only pages with math need MathJax; pages without it must not depend on it.
  const maths = Array.from(document.querySelectorAll(".math"));
  if (maths.length) {
    const startup = window.MathJax && window.MathJax.startup;
    if (!startup || !startup.promise) {
      problems.push("MathJax did not load on a page with " + maths.length + " math elements");
    } else {
      await withTimeout(startup.promise, "MathJax typesetting").catch((e) => problems.push(String(e.message || e)));
    }
    const raw = maths.filter((el) => !el.querySelector("mjx-container"));
    if (raw.length) problems.push(raw.length + " math elements not rendered, first: " + raw[0].textContent.trim().slice(0, 80));
  }
  // Raw TeX delimiters left in the prose mean math that was never typeset. Code blocks are
  // skipped: a code cell may legitimately print "$$" or use \( in a regular expression.
  let text = "";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (!parent.closest("pre, code, script, style") && parent.checkVisibility()) text += walker.currentNode.data;
  }
  for (const delim of ["\\(", "$$"]) {
    if (text.includes(delim)) problems.push("raw " + delim + " visible in page text");
  }
  return problems;
}"""


def unavailable(message):
    """In CI a missing tool is a broken setup, so fail; on a laptop, skip."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def book_pages(html):
    pages = []
    for path in sorted(html.rglob("*.html")):
        rel = path.relative_to(html)
        if rel.as_posix() not in SKIP_PAGES and not SKIP_DIRS & set(rel.parts):
            pages.append(rel.as_posix())
    return pages


@pytest.fixture(scope="module")
def html(built_book):
    return Path(built_book).resolve()


@pytest.fixture(scope="module")
def base_url(html):
    """Serve the built HTML on a free local port for the duration of the module."""
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass  # Playwright reports what matters; the access log would drown it.

    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # the browser dropping a connection (redirect, page closed) is not a book problem

    server = QuietServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def is_external(url, base_url):
    """True for http(s) URLs on another origin; data: and blob: URLs are local by nature."""
    url, base = urlsplit(url), urlsplit(base_url)
    return url.scheme in ("http", "https") and url.netloc != base.netloc


def check_page(browser, base_url, rel, shots):
    """Load one page; return the problems seen, and save its screenshot."""
    problems = []
    # A fresh context per page: each page is seen as a first-time reader sees it (empty
    # localStorage), so a problem is reported on every page that has it, not only the first one.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    # Nothing outside the local server may load: block it so an offline runner does not wait on it.
    context.route(lambda url: is_external(url, base_url), lambda route: route.abort())
    page = context.new_page()

    def on_request(request):
        if is_external(request.url, base_url):
            problems.append(f"external request (book must work offline): {request.url}")

    def on_request_failed(request):
        if not is_external(request.url, base_url):
            problems.append(f"request failed ({request.failure}): {request.url}")

    def on_response(response):
        if not is_external(response.url, base_url) and response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_console(message):
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    page.on("request", on_request)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
    try:
        # "networkidle", not "load": Jupyter Book's index.html is a <meta> redirect that navigates
        # again after its load event, and async scripts get the chance to fail.
        page.goto(base_url + rel, wait_until="networkidle")
        problems.extend(page.evaluate(CHECK_PAGE_JS, TIMEOUT_MS))
        page.screenshot(path=shots / (rel.replace("/", "__").removesuffix(".html") + ".png"), full_page=True)
    except Exception as error:  # a timeout or crash on one page should not hide the others
        problems.append(f"{type(error).__name__}: {error}")
    finally:
        context.close()
    return problems


def test_every_page_renders_offline(html, base_url):
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} not found: install the Debian package `chromium` (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Python package `playwright` not installed: pip install -e '.[test]'")
    if not (html / "index.html").exists():
        pytest.fail(f"{html / 'index.html'} does not exist: run `make book` first")

    pages = book_pages(html)
    shots = html.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()  # screenshots of pages that no longer exist would mislead

    report = []
    start = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for rel in pages:
                report += [f"{rel}: {problem}" for problem in check_page(browser, base_url, rel, shots)]
        finally:
            browser.close()
    print(f"checked {len(pages)} pages in {time.monotonic() - start:.1f} s; screenshots in {shots}")

    assert not report, f"{len(report)} problems in the rendered book:\n" + "\n".join(report)
