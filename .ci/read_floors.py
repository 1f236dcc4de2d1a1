"""Write what .ci/minimum_versions installs, read from pyproject.toml, into the folder argv[1]:
python_floor (the oldest Python requires-python admits), constraints.txt (each runtime
dependency pinned at its >= floor) and references (the crosscheck extra without PyTorch, whose
CPU file on these machines is for Python 3.11 only)."""

import pathlib
import re
import sys

import tomllib

work = pathlib.Path(sys.argv[1])
project = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]
floor = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"])
if floor is None:
    raise SystemExit(f"requires-python {project['requires-python']!r}: expected '>=X.Y'")
(work / "python_floor").write_text(floor[1])
pins = []
for spec in project["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", spec)
    if match is None:
        raise SystemExit(f"pyproject dependency {spec!r}: expected 'name>=version'")
    pins.append(f"{match[1]}=={match[2]}")
(work / "constraints.txt").write_text("\n".join(pins) + "\n")
crosscheck = project["optional-dependencies"]["crosscheck"]
(work / "references").write_text(" ".join(s for s in crosscheck if not s.startswith("torch")))
