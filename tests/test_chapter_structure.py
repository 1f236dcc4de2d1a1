"""The chapters as a textbook: what each must contain, checked on the stored notebooks.

Objectives at the top; a summary, references with years and 3-6 exercises at the end, each
exercise with a worked solution whose check cell asserts something; tests named in the prose
exist and sit in footnote lines; formula numbers run in order of appearance and every number a
docstring cites exists; the glossary's terms are the articles' own; the library code that a
chapter explains is shown. (The notebooks are executed by tests/test_chapters.py.)
"""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
IDS = [p.name[:2] for p in NOTEBOOKS]


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def markdown(path):
    return "\n".join("".join(c["source"]) for c in cells(path) if c["cell_type"] == "markdown")


def code(path):
    return "\n".join("".join(c["source"]) for c in cells(path) if c["cell_type"] == "code")


def section(text, title):
    """The text of the '## title' section (up to the next '## ' heading)."""
    m = re.search(rf"^## (?:[^\n]*· )?{title}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no '## {title}' section"
    return m.group(1)


# "Surname et al. 2018", "Surname & Other (2015)", "Surname, Other & Third 2006", "(Surname 1990)"
CITATION = re.compile(
    r"([A-Z][a-zà-ÿ]+)(?:,\s[A-Z][a-zà-ÿ]+)*"  # the first author, maybe more
    r"(?:\set\sal\.|\s&\s[A-Z][a-zà-ÿ]+)?(?:'s)?,?\s\(?(?:[A-Z]+\s)?((?:19|20)\d\d)\b"  # year
)


def test_five_chapters():
    assert IDS == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_opens_with_objectives_and_ends_with_summary_references_exercises(path):
    text = markdown(path)
    assert "**After this chapter you will be able to**" in text[:4000]
    headings = re.findall(r"^## (?:[^\n]*· )?(Summary|References|Exercises)\s*$", text, re.M)
    assert headings == ["Summary", "References", "Exercises"], headings
    assert text.rstrip().endswith(section(text, "Exercises").rstrip())  # exercises come last


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_references_carry_years_and_cover_the_papers_cited_inline(path):
    text = markdown(path)
    refs = section(text, "References")
    entries = [line for line in refs.splitlines() if line.startswith("* ")]
    assert len(entries) >= 3 and all(re.search(r"\((1[89]|20)\d\d\)", e) for e in entries)
    body = text[: text.index("## References")]
    cited = CITATION.findall(body)
    missing = {(name, year) for name, year in cited if name not in refs or year not in refs}
    assert missing == set(), f"cited inline but not in the references: {sorted(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises_have_checked_worked_solutions(path):
    n_ex = len(re.findall(r"^\d+\. \*\*", section(markdown(path), "Exercises"), re.M))
    assert 3 <= n_ex <= 6
    solutions = CHAPTERS / "solutions" / f"{path.name[:2]}_solutions.ipynb"
    assert f"solutions/{solutions.name}" in markdown(path)
    found, checked, current = [], set(), None
    for cell in cells(solutions):
        src = "".join(cell["source"])
        m = re.match(r"## Exercise (\d+)", src)
        if cell["cell_type"] == "markdown" and m:
            current = int(m.group(1))
            found.append(current)
        elif cell["cell_type"] == "code" and src.startswith("# Check") and "assert" in src:
            checked.add(current)
    assert found == list(range(1, n_ex + 1)) and checked == set(found)


def _cited_tests(text):
    return set(re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", text))


def _all_texts():
    paths = NOTEBOOKS + sorted((CHAPTERS / "solutions").glob("*.ipynb"))
    return [(p, markdown(p)) for p in paths] + [
        (CHAPTERS / "glossary.md", (CHAPTERS / "glossary.md").read_text("utf-8"))
    ]


def test_every_test_a_chapter_names_exists():
    missing = []
    for path, text in _all_texts():
        for file, name in _cited_tests(text):
            target = ROOT / file
            if not target.exists() or (name and f"def {name}(" not in target.read_text("utf-8")):
                missing.append(f"{path.name}: {file}::{name}")
    assert missing == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_test_paths_sit_in_footnote_lines_not_in_the_prose(path):
    prose = re.sub(r"<sub>.*?</sub>", "", markdown(path), flags=re.S)
    assert re.findall(r"tests/\S+", prose) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_formula_numbers_run_in_order_of_appearance(path):
    number = int(path.name[:2])
    tags = re.findall(r"\\tag\{(\d+)\.(\d+)([a-z]?)\}", markdown(path))
    assert tags and all(int(ch) == number for ch, _, _ in tags)
    keys = [(int(k), sub) for _, k, sub in tags]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert [k for k, sub in keys if not sub] == list(
        range(1, len([1 for _, s in keys if not s]) + 1)
    )


def test_every_formula_number_the_library_cites_exists():
    tags = {
        p.name[:2]: set(re.findall(r"\\tag\{(\d+\.\d+[a-z]?)\}", markdown(p))) for p in NOTEBOOKS
    }
    missing = []
    for py in sorted((ROOT / "minidl").rglob("*.py")):
        for ch, num in re.findall(r"\(([1-5])\.([1-9]\d*[a-z]?)\)", py.read_text("utf-8")):
            if f"{ch}.{num}" not in tags[f"0{ch}"]:
                missing.append(f"{py.relative_to(ROOT)}: ({ch}.{num})")
    assert missing == []


def test_glossary_terms_are_the_articles_own():
    rows = re.findall(
        r"^\| ([^|]+?) \| [^|]+ \| ([^|]+) \|", (CHAPTERS / "glossary.md").read_text("utf-8"), re.M
    )
    articles = {p.name[:3]: p.read_text("utf-8") for p in (CHAPTERS / "articles").glob("00*.txt")}
    terms = [(t.split(" (")[0].strip(), where) for t, where in rows if t not in ("term",)]
    assert len(terms) >= 25
    wrong = []
    for term, where in terms:
        for art in re.findall(r"00\d", where):
            if not any(variant in articles[art] for variant in term.split(" / ")):
                wrong.append(f"{term} not in article {art}")
        if "–" in where:  # 000–004: all five
            wrong += [f"{term} not in {a}" for a, t in articles.items() if term not in t]
    assert wrong == []
    for term in ("权重裁剪", "剪枝", "逐位裁剪", "知识迁移", "压缩感知"):
        assert any(t == term for t, _ in terms), term


def test_cross_links_between_chapters():
    links = {p.name[:2]: set(re.findall(r"\]\((0\d)_\w+\.ipynb\)", markdown(p))) for p in NOTEBOOKS}
    assert "04" in links["01"] and "01" in links["04"]  # quantization, distillation
    assert "05" in links["02"] and "02" in links["05"]  # lasso, ISTA


@pytest.mark.parametrize(
    "prefix, shown",
    [
        ("01", "quantization.quantize"),
        ("02", "proximal.soft_threshold"),
        ("02", "lasso_solvers.lasso_cd_naive"),
        ("03", "conv_module.conv_nd_forward_naive"),
        ("03", "conv_module.conv_nd_forward_vectorized"),
        ("04", "batchnorm_naive.batch_norm_forward_naive"),
        ("04", "batchnorm.batch_norm_forward"),
        ("04", "quantization.quantize_fixed_point"),
    ],
)
def test_the_library_code_a_chapter_explains_is_shown(prefix, shown):
    (path,) = [p for p in NOTEBOOKS if p.name.startswith(prefix)]
    assert f"inspect.getsource({shown})" in code(
        path
    ) or f"getsource(minidl.functional.{shown})" in code(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_verification_sits_in_marked_cells(path):
    checks = [
        c
        for c in cells(path)
        if c["cell_type"] == "code" and "".join(c["source"]).startswith("# Check")
    ]
    assert len(checks) >= 2 and all("assert" in "".join(c["source"]) for c in checks)
