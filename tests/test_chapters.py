"""Every chapter notebook, and every notebook of worked solutions to its exercises, runs top to
bottom from a clean kernel within its time budget (a solution's `# Check:` cells assert its
answer, so running them is checking them).

Notebooks are stored without outputs (so diffs stay readable); a test enforces that too.
"""

import os
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

FOLDER = pathlib.Path(__file__).parents[1] / "chapters"
CHAPTERS = sorted(FOLDER.glob("[0-9][0-9]_*.ipynb")) + sorted(
    (FOLDER / "solutions").glob("[0-9][0-9]_solutions.ipynb")
)
BUDGET_SECONDS = 180


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2, "chapters/ holds no NN_*.ipynb notebooks"
    assert all(
        (FOLDER / "solutions" / f"{p.name[:2]}_solutions.ipynb").exists()
        for p in CHAPTERS
        if p.parent == FOLDER
    ), "a chapter has no solutions notebook"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_imports_minidl(path):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert "import minidl" in source or "from minidl" in source


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        start = time.perf_counter()
        client = nbclient.NotebookClient(
            nb,
            timeout=BUDGET_SECONDS,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend
    assert elapsed < BUDGET_SECONDS, f"{path.name} took {elapsed:.0f} s (budget {BUDGET_SECONDS} s)"
