"""The repository stands on its own: every path a reader is sent to exists inside the clone.

A clone has nothing beside it, so a reference to ``../shared/...`` (where the articles once
lived) or to any file that is not in the repository sends a reader nowhere.
"""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".md", ".py", ".ipynb", ".toml", ".txt", ".cfg"}
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist"}
FILE_EXTENSIONS = "txt|md|py|ipynb|npz|gz|csv|json|toml|png"
# a markdown link target, or a backticked path with a folder and a file extension
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
BACKTICKED = re.compile(rf"`((?:\.\.?/)?[\w.-]+(?:/[\w.-]+)+\.(?:{FILE_EXTENSIONS}))`")
EXAMPLES = {"hw3/layers.py"}  # a user's file in the conformance CLI's usage example
LEAVES = re.compile(r"\.\./shared|(?<![\w.])shared/seeds|/work/")


def repo_files():
    for path in sorted(ROOT.rglob("*")):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and path.suffix in TEXT_SUFFIXES and not parts & SKIP_DIRS:
            if "articles" in parts and path.suffix == ".txt":
                continue  # the source articles as given: their own text, not our references
            yield path


def text_of(path, prose_only=False):
    """The file's text; of a notebook its cells' sources (only the markdown ones if asked)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        kinds = {"markdown"} if prose_only else {"markdown", "code"}
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] in kinds)
    return text


def resolves(target, path):
    """A relative target resolves from the file's folder or from the repository root (module
    docstrings name files by their repository path), and stays inside the repository."""
    if re.match(r"[a-z]+://|mailto:", target):
        return True
    for base in (path.parent, ROOT):
        candidate = (base / target).resolve()
        if candidate.is_relative_to(ROOT) and candidate.exists():
            return True
    return False


def test_the_scan_sees_the_files_it_should():
    names = {p.relative_to(ROOT).as_posix() for p in repo_files()}
    assert {"README.md", "chapters/README.md", "chapters/articles/README.md"} <= names
    assert any(n.endswith(".ipynb") for n in names) and any(n.startswith("minidl/") for n in names)


@pytest.mark.parametrize("path", list(repo_files()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_reference_leaves_the_repository(path):
    text = text_of(path)
    if path != pathlib.Path(__file__).resolve():  # this file spells the patterns out
        leaving = [m.group(0) for m in LEAVES.finditer(text)]
        assert leaving == [], f"{path.name} points outside the repository: {leaving}"
    prose = text_of(path, prose_only=True) if path.suffix in {".md", ".ipynb"} else ""
    targets = [m.group(1) for m in LINK.finditer(prose)]
    targets += [m.group(1) for m in BACKTICKED.finditer(text) if m.group(1) not in EXAMPLES]
    broken = sorted({t for t in targets if not resolves(t, path)})
    assert broken == [], f"{path.name} refers to paths that do not exist in the repository"


# [text](file.md#heading) or [text](#heading): the file (empty for this one) and the heading
ANCHORED_LINK = re.compile(r"\]\(([^)\s#]*\.md|)#([^)\s]+)\)")


def heading_anchors(markdown):
    """The anchors GitHub gives a markdown file's headings: lower case, every character but
    letters, digits, ``_``, ``-`` and spaces dropped, spaces made ``-``; a repeated one gets
    ``-1``, ``-2``, ... (fenced code is not scanned: its ``#`` lines are comments)."""
    anchors, seen, fenced = set(), {}, False
    for line in markdown.split("\n"):
        fenced ^= line.startswith("```")
        heading = None if fenced else re.match(r"#{1,6} (.+)", line)
        if heading:
            anchor = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(f"{anchor}-{seen[anchor]}" if anchor in seen else anchor)
            seen[anchor] = seen.get(anchor, 0) + 1
    return anchors


def broken_anchors(path):
    """The ``file.md#heading`` (or ``#heading``) links of a markdown file whose heading the
    target file does not have."""
    broken = []
    for target, anchor in ANCHORED_LINK.findall(path.read_text(encoding="utf-8")):
        linked = (path.parent / target) if target else path
        if not linked.exists() or anchor not in heading_anchors(linked.read_text("utf-8")):
            broken.append(f"{target}#{anchor}")
    return broken


def test_heading_anchors_are_githubs():
    text = "# minidl\n## Speed and memory\n### The first round on the AMD EPYC (2026-12-03)\n"
    text += "```\n# a comment\n```\n#### Convolution on 37 shapes (`bench_sweep.py`)\n"
    text += "## Speed and memory\n"
    assert heading_anchors(text) == {
        "minidl", "speed-and-memory", "the-first-round-on-the-amd-epyc-2026-12-03",
        "convolution-on-37-shapes-bench_sweeppy", "speed-and-memory-1"}  # fmt: skip


def test_a_link_to_a_missing_heading_is_found(tmp_path):
    (tmp_path / "log.md").write_text("# Log\n## The noon round\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("[ok](log.md#the-noon-round), [gone](log.md#the-night-round), "
                      "[here](#readme), [moved](#log)\n# README\n", encoding="utf-8")  # fmt: skip
    assert broken_anchors(readme) == ["log.md#the-night-round", "#log"]


@pytest.mark.parametrize("path", [p for p in repo_files() if p.suffix == ".md"],
                         ids=lambda p: p.relative_to(ROOT).as_posix())  # fmt: skip
def test_links_to_headings_find_them(path):
    """A heading renamed or moved to another file (the README's speed rounds went to
    ``benchmarks/ROUNDS.md``) leaves no link pointing at nothing."""
    assert broken_anchors(path) == []


def test_the_five_articles_are_shipped_and_mapped():
    articles = ROOT / "chapters" / "articles"
    texts = sorted(articles.glob("00*.txt"))
    assert [t.name[:3] for t in texts] == ["000", "001", "002", "003", "004"]
    mapping = (articles / "README.md").read_text(encoding="utf-8")
    for text in texts:
        assert f"]({text.name})" in mapping
        assert len(text.read_text(encoding="utf-8")) > 3000  # the whole article, not a stub


def test_license_is_the_one_pyproject_declares():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', pyproject, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.M)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
