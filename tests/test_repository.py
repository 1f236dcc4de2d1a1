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
