"""The README is a landing page (at most 12 KB) and every path the documentation cites exists.

A cited path is the target of a relative Markdown link or image, or a path in backticks that starts at
the top of the repository (``lazyllm/cli.py``, ``tests/e2e/``, ``docs/results/bench-quick.md``; a
``::test`` or ``: name`` after it is dropped). Links are resolved from the file that holds them,
backticked paths from the repository root.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_LIMIT = 12 * 1024
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "docs" / "results" / "README.md"]
TOP = ("lazyllm/", "app/", "tests/", "docs/", "assets/", "scripts/", ".ci/")
FILES = ("app.py", "Makefile", "pyproject.toml", "requirements.txt", "requirements-dev.txt", "README.md")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
CODE = re.compile(r"`([^`\n]+)`")


def cited_paths(text: str) -> tuple[list[str], list[str]]:
    """(relative link targets, repository paths in inline code and code blocks) in a Markdown text."""
    links = [t.split("#")[0] for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]
    code = FENCE.findall(text) + CODE.findall(FENCE.sub("", text))
    paths = []
    for word in re.split(r"[\s=\"'(),;]+", " ".join(code)):
        word = re.split(r"::|:", word)[0].rstrip(".")
        if word.startswith(TOP) or word in FILES:
            paths.append(word)
    return [t for t in links if t], paths


def test_cited_paths_are_found_in_links_and_code():
    links, paths = cited_paths(
        "See [results](docs/results/README.md#tasks), ![x](assets/a.png), [web](https://x.org), "
        "`lazyllm/cli.py`, `app/markup.py: esc`, `tests/e2e/test_load.py::test_x`, `python app.py`, "
        "`Makefile`, `x/y.py`, `--tasks`, `X=1 pytest tests/runtime/test_api.py -k x`.\n\n"
        "```bash\npython -m lazyllm bench --out docs/results --name b  # see lazyllm/eval/\n```\n"
    )
    assert links == ["docs/results/README.md", "assets/a.png"]
    assert paths == [
        "docs/results",
        "lazyllm/eval/",
        "lazyllm/cli.py",
        "app/markup.py",
        "tests/e2e/test_load.py",
        "app.py",
        "Makefile",
        "tests/runtime/test_api.py",
    ]


def test_the_readme_is_a_landing_page():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, (
        f"README.md is {size} bytes; the limit is {README_LIMIT}: move details to docs/"
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_document_cites_exists(doc):
    links, paths = cited_paths(doc.read_text(encoding="utf-8"))
    missing = [t for t in links if not (doc.parent / t).exists()]
    missing += [p for p in paths if not any(ROOT.glob(p)) and not (ROOT / p).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


def test_the_distribution_has_a_name_of_its_own_and_ships_every_package():
    """Not `lazyllm` (LazyAGI's, on PyPI); every folder of lazyllm/ and app/ with an __init__.py is shipped."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "lazyllm-explorer"
    packages = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("lazyllm", "app")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert set(project["tool"]["setuptools"]["packages"]) == packages
