"""Importing app/ does no work: no module of app/ reads a file at import (assets are read when the demo
is built or launched, plotly's template when the first figure is drawn)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: every open() / Path read is recorded with the stack that made it, and counts
# against app/ when, walking out from the call, a frame of app/ comes before any import machinery (a file
# that a library opens while app/ imports it is the library's own business; one that app/ code opens, or
# asks a library to open, while a module of app/ is being imported is not).
PROBE = r"""
import builtins, io, json, pathlib, pkgutil, sys, importlib
app_dir = str(pathlib.Path("app").resolve())
reads = []

def blame(what):
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib"):
            return
        if name.startswith(app_dir):
            reads.append(f"{what} from {name}:{frame.f_lineno}")
            return
        frame = frame.f_back

depth = [0]  # Path.read_text calls Path.open calls open: one read, recorded once

def wrap(fn, what):
    def recorded(*args, **kwargs):
        if depth[0] == 0:
            blame(what)
        depth[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            depth[0] -= 1
    return recorded

builtins.open = io.open = wrap(builtins.open, "open")
for name in ("open", "read_text", "read_bytes"):
    setattr(pathlib.Path, name, wrap(getattr(pathlib.Path, name), f"Path.{name}"))

import app
modules = sorted(m.name for m in pkgutil.walk_packages(app.__path__, "app."))
for m in modules:
    importlib.import_module(m)
print(json.dumps({"modules": modules, "reads": reads, "app": app.__file__}))
"""


def test_importing_app_modules_opens_no_file():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["app"].startswith(str(ROOT / "app"))  # this checkout's app/, not another
    assert {"app.ui", "app.figures.survival", "app.stats", "app.gradio_compat"} <= set(result["modules"])
    assert result["reads"] == []


def test_the_probe_sees_a_read_at_import(tmp_path):
    """The probe itself works: a module of app/ that reads a file at import is reported."""
    fake = tmp_path / "app"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "reader.py").write_text("from pathlib import Path\nTEXT = Path(__file__).read_text()\n")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True
    )
    reads = json.loads(out.stdout.strip().splitlines()[-1])["reads"]
    assert len(reads) == 1 and "Path.read_text" in reads[0] and "reader.py:2" in reads[0]
