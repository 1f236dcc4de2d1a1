"""Build the five executed chapters into a static HTML book that works with no network.

    pip install -e ".[book]"          # Sphinx, myst-nb, the furo theme
    python chapters/book/build.py     # -> build/book/html/index.html (open it in a browser)

Steps: copy the chapters, their solutions and the book's pages into a staging folder
(``build/book/src``); point every link to a library file (``../minidl/x.py#name``, which a
reader of the notebook opens in Jupyter) at a page of the book that shows that function's
source; fetch MathJax 3 from npm once into ``build/book/deps`` (or take ``--mathjax``, a
folder holding ``tex-svg-full.js``) and copy it into ``_static``; run ``sphinx-build``, which
executes every notebook from a clean kernel (a failing chapter fails the build).
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
BOOK = CHAPTERS / "book"
MATHJAX_VERSION = "3.2.2"  # MathJax 3, SVG output: glyphs are paths, no web fonts to load
MATHJAX_FILE = "tex-svg-full.js"
# a link from a notebook or page to a file of the library, optionally to one function in it
SOURCE_LINK = re.compile(r"\]\(((?:\.\./)+)(minidl/[\w/]+\.py)(?:#([\w.]+))?\)")


def stage(src):
    """Copy what the book is made of into ``src`` (a fresh folder)."""
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for page in BOOK.glob("*.md"):
        shutil.copy(page, src / page.name)
    shutil.copy(BOOK / "conf.py", src / "conf.py")
    shutil.copytree(BOOK / "_static", src / "_static")
    shutil.copy(CHAPTERS / "glossary.md", src / "glossary.md")
    for nb in sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy(nb, src / nb.name)
    if (CHAPTERS / "solutions").is_dir():
        shutil.copytree(
            CHAPTERS / "solutions",
            src / "solutions",
            ignore=shutil.ignore_patterns("*.py", "__pycache__", ".ipynb_checkpoints"),
        )
    shutil.copytree(CHAPTERS / "articles", src / "articles")


def _rewrite_links(text, depth, cited):
    """``](../minidl/a/b.py#name)`` -> ``](<up>source/minidl.a.b.md#name)``; records citations."""
    up = "../" * depth

    def repl(m):
        module = m.group(2)[: -len(".py")].replace("/", ".")
        name = m.group(3)
        cited.setdefault(module, set())
        if name:
            cited[module].add(name)
            return f"]({up}source/{module}.md#{_anchor(name)})"
        return f"]({up}source/{module}.md)"

    return SOURCE_LINK.sub(repl, text)


def _anchor(name):
    """The anchor MyST gives a heading ``name`` (GitHub's rule: lower case, '.' dropped)."""
    return re.sub(r"[^\w\- ]", "", name.lower()).replace(" ", "-")


def link_sources(src):
    """Rewrite library links in every staged notebook and page; return {module: {names}}."""
    cited = {}
    for path in sorted(src.rglob("*.ipynb")) + sorted(src.glob("*.md")):
        depth = len(path.relative_to(src).parts) - 1
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    text = "".join(cell["source"])
                    cell["source"] = _rewrite_links(text, depth, cited)
            path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            path.write_text(
                _rewrite_links(path.read_text(encoding="utf-8"), depth, cited), encoding="utf-8"
            )
    return cited


def write_source_pages(src, cited):
    """One page per cited module: each cited function's source (docstring = its formula)."""
    pages = src / "source"
    pages.mkdir(exist_ok=True)
    entries = []
    for module in sorted(cited):
        rel = module.replace(".", "/") + ".py"
        source = os.path.relpath(ROOT / rel, pages)  # from the page's folder, for any --out
        lines = [
            f"# `{module}`",
            "",
            f"The functions of `{rel}` that the chapters cite, as they are in the library "
            "(the docstring carries the formula and its number).",
            "",
        ]
        for name in sorted(cited[module]):
            lines += [
                f"## {name}",
                "",
                f"```{{literalinclude}} {source}",
                f":pyobject: {name}",
                ":language: python",
                "```",
                "",
            ]
        lines += [
            "## The whole file",
            "",
            f"```{{literalinclude}} {source}",
            ":language: python",
            ":linenos:",
            "```",
            "",
        ]
        (pages / f"{module}.md").write_text("\n".join(lines), encoding="utf-8")
        entries.append(f"source/{module}")
    index = [
        "# The library's source",
        "",
        "Every formula a chapter cites links here, to the function that computes it.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *entries,
        "```",
        "",
    ]
    (src / "source_index.md").write_text("\n".join(index), encoding="utf-8")


def mathjax(deps, given):
    """The folder holding ``tex-svg-full.js``: ``given``, or npm's mathjax installed in ``deps``."""
    if given:
        folder = pathlib.Path(given)
    else:
        folder = deps / "node_modules" / "mathjax" / "es5"
        if not (folder / MATHJAX_FILE).exists():
            npm = shutil.which("npm")
            if npm is None:
                sys.exit("npm is needed once to fetch MathJax (or pass --mathjax DIR)")
            subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                    "--prefix",
                    str(deps),
                    f"mathjax@{MATHJAX_VERSION}",
                ],
                check=True,
            )
    if not (folder / MATHJAX_FILE).exists():
        sys.exit(f"{folder} holds no {MATHJAX_FILE}")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(ROOT / "build" / "book"), help="build folder (the book is OUT/html)"
    )
    parser.add_argument("--mathjax", help="a folder with MathJax 3's tex-svg-full.js")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out).resolve()
    start = time.perf_counter()
    src = out / "src"
    stage(src)
    write_source_pages(src, link_sources(src))
    mj = mathjax(out / "deps", args.mathjax)
    (src / "_static" / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copy(mj / MATHJAX_FILE, src / "_static" / "mathjax" / MATHJAX_FILE)
    html = out / "html"
    # the kernels must draw inline (CI exports MPLBACKEND=Agg, which would drop every figure)
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-q",
            "-j",
            "1",
            "-d",
            str(out / "doctrees"),
            str(src),
            str(html),
        ],
        check=True,
        env=env,
    )
    print(f"book built in {time.perf_counter() - start:.0f} s: open {html / 'index.html'}")


if __name__ == "__main__":
    main()
