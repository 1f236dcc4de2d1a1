"""The offline HTML book (``python chapters/book/build.py``), checked in a real headless browser.

Skipped unless the book has been built (``MINIDL_BOOK`` or ``build/book/html``); CI builds it
after the test suite (``.ci/run``) and runs this file on it. The browser is the system's
Chromium (Debian's package; ``MINIDL_CHROMIUM`` names another binary), driven by Playwright,
which here downloads no browser of its own. Every request the pages make is recorded: the book
must work with no network, so any request that is not to a local file fails the test.
"""

import os
import pathlib
import re
import shutil
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = pathlib.Path(os.environ.get("MINIDL_BOOK", ROOT / "build" / "book" / "html")).resolve()
ARTIFACTS = pathlib.Path(os.environ.get("MINIDL_ARTIFACTS", ROOT / "build" / "artifacts")).resolve()
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

REQUIRED = os.environ.get("MINIDL_BOOK_REQUIRED") == "1"  # CI: a missing piece fails, never skips


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _built_book():
    if not (BOOK / "index.html").exists():
        _unavailable(f"the book is not built ({BOOK}); run: python chapters/book/build.py")


def pages():
    """Every content page of the book (Sphinx's search and index pages aside)."""
    skip = {"search.html", "genindex.html"}
    return sorted(
        p for p in BOOK.rglob("*.html") if p.name not in skip and "_static" not in p.parts
    )


def test_contents_page_links_every_chapter():
    index = (BOOK / "index.html").read_text(encoding="utf-8")
    for stem in CHAPTERS:
        assert f'href="{stem}.html"' in index, f"the contents page does not link {stem}"
        assert (BOOK / f"{stem}.html").exists()


def test_no_page_loads_anything_from_the_network():
    remote = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""")
    offenders = {p.name for p in pages() if remote.search(p.read_text(encoding="utf-8"))}
    css_js = [p for p in BOOK.rglob("*") if p.suffix in {".css"}]
    offenders |= {
        p.name
        for p in css_js
        if re.search(
            r"@import\s+url\(\s*[\"']?https?:|url\([\"']?https?:",
            p.read_text(encoding="utf-8", errors="ignore"),
        )
    }
    assert offenders == set()
    assert (BOOK / "_static" / "mathjax" / "tex-svg-full.js").exists()


def test_chapters_carry_their_executed_figures():
    for stem in CHAPTERS:
        html = (BOOK / f"{stem}.html").read_text(encoding="utf-8")
        assert html.count("<img") >= 3, f"{stem}: the executed chapter shows fewer than 3 figures"


def test_every_local_link_resolves():
    """Links between chapters, to solutions, glossary and source pages: the file and the anchor."""
    broken = []
    for page in pages():
        html = page.read_text(encoding="utf-8")
        for href, anchor in re.findall(r'href="([^"#:]+\.html)(?:#([^"]*))?"', html):
            target = (page.parent / href).resolve()
            if not target.exists():
                broken.append(f"{page.name} -> {href}")
            elif anchor and f'id="{anchor}"' not in target.read_text(encoding="utf-8"):
                broken.append(f"{page.name} -> {href}#{anchor}")
    assert broken == []
    chapter01 = (BOOK / f"{CHAPTERS[0]}.html").read_text(encoding="utf-8")
    assert f'href="{CHAPTERS[3]}.html' in chapter01  # 01 -> 04 (quantization, distillation)


def test_formulas_link_to_the_library_source():
    linked = [
        s for s in CHAPTERS if 'href="source/minidl.' in (BOOK / f"{s}.html").read_text("utf-8")
    ]
    assert linked == CHAPTERS


def _chromium():
    found = (
        os.environ.get("MINIDL_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        _unavailable("no system Chromium (apt-get install chromium)")
    return found


CHECK_PAGE = r"""() => {
  const skip = el => el.closest(
    'pre, code, script, style, .highlight, mjx-container, .cell_output');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (skip(n.parentElement)) continue;
    const t = n.textContent;
    if (/\$[^$\s][^$]*\$|\$\$|\\\(|\\\[/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  const maths = [...document.querySelectorAll('.math')];
  return {
    maths: maths.length,
    typeset: maths.filter(m => m.querySelector('mjx-container')).length,
    errors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
      .map(e => e.getAttribute('data-mjx-error') || e.textContent),
    raw: raw,
    images: document.images.length,
    broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  };
}"""


def test_every_page_loads_typesets_and_shows_its_images_offline():
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[book]'")
    chromium = _chromium()
    problems = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1600},
        )
        page = context.new_page()
        events = []
        page.on(
            "console",
            lambda m: events.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: events.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: events.append(f"request failed: {r.url}"))
        page.on(
            "request",
            lambda r: (
                events.append(f"network request: {r.url}")
                if not r.url.startswith(("file:", "data:", "blob:"))
                else None
            ),
        )
        for path in pages():
            events.clear()
            page.goto(path.as_uri(), wait_until="load")
            if page.evaluate("() => document.querySelector('.math') !== null"):
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                    timeout=30_000,
                )
                page.evaluate("() => MathJax.startup.promise")
            result = page.evaluate(CHECK_PAGE)
            name = path.relative_to(BOOK).as_posix()
            problems += [f"{name}: {e}" for e in events]
            if result["typeset"] != result["maths"] or result["errors"]:
                problems.append(
                    f"{name}: {result['typeset']}/{result['maths']} formulas typeset, "
                    f"MathJax errors {result['errors']}"
                )
            problems += [f"{name}: raw TeX left: {t!r}" for t in result["raw"]]
            problems += [f"{name}: image did not load: {s}" for s in result["broken"]]
            if path.stem == CHAPTERS[0]:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "book_chapter01.png"))
        context.close()
    assert problems == []
    assert (ARTIFACTS / "book_chapter01.png").stat().st_size > 10_000
