"""View names: every View has its component, every name an event reads or writes is a View, and every
`View.<NAME>` written in app/ exists (a typo fails here, not in a visitor's browser)."""

from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
import pytest

from app import viewnames, wiring
from app.layout import lay_out
from app.session import App
from app.ui import check_components
from app.viewnames import View

APP = Path(__file__).resolve().parents[2] / "app"
GROUPS = ("SUMMARY", "STEP_VIEWS", "RUN_WIDE", "WALK", "VIEW_OUTPUTS", "TABLE_OUTPUTS", "RUN_INPUTS", "PANEL")


@pytest.fixture(scope="module")
def components():
    with gr.Blocks():
        return lay_out(App(), {})


def test_the_layout_registers_one_component_under_every_view(components):
    assert set(components) == set(View)
    assert all(isinstance(k, View) for k in components)
    assert len({id(c) for c in components.values()}) == len(View)  # no component under two names
    check_components(components)  # the build-time check passes on the real layout...
    partial = {k: v for k, v in components.items() if k is not View.SCAN_PLOT}
    with pytest.raises(KeyError, match="SCAN_PLOT"):  # ...and names a View left without a component
        check_components(partial)


@pytest.mark.parametrize("group", GROUPS)
def test_every_name_an_event_reads_or_writes_is_a_view_with_a_component(components, group):
    names = getattr(viewnames, group)
    assert names and all(isinstance(n, View) for n in names)
    assert len(set(names)) == len(names), f"{group} repeats a name"
    assert len(wiring.outs(components, names)) == len(names)


def test_a_view_is_its_old_string():
    """Callbacks' outputs keyed by View read the same with the strings tests and clients use."""
    out = {View.STATUS: "x"}
    assert out["status"] == "x" and f"turn_{View.NEXT}" == "turn_next" and View("per_layer") is View.PER_LAYER


def _view_attributes(tree: ast.AST, aliases: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield node.attr, node.lineno


def _aliases(tree: ast.AST) -> set[str]:
    """The names View is imported as in a module (View, V, ...)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "app.viewnames":
            out |= {a.asname or a.name for a in node.names if a.name == "View"}
    return out


def test_every_view_name_written_in_app_exists():
    members = set(View.__members__)
    used, typos = 0, []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = _aliases(tree) | ({"View", "V"} if path.name == "viewnames.py" else set())
        for attr, line in _view_attributes(tree, aliases):
            used += 1
            if attr not in members and not attr.startswith("_"):
                typos.append(f"{path.relative_to(APP.parent)}:{line}: View.{attr}")
    assert used > 100  # the check sees the names the app uses
    assert not typos, typos


def test_callbacks_and_views_key_their_outputs_by_view():
    """A string literal as an output key would dodge the check above: app/ writes View names."""
    values = {v.value for v in View}
    strays = []
    for name in ("callbacks.py", "views.py", "walkthrough.py", "wiring.py"):
        tree = ast.parse((APP / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            keys = []
            if isinstance(node, ast.Dict):
                keys = node.keys
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "out"
            ):
                keys = [node.slice]
            strays += [
                f"{name}:{k.lineno} {k.value!r}"
                for k in keys
                if isinstance(k, ast.Constant) and k.value in values
            ]
    assert not strays, strays


def test_bind_raises_on_a_name_the_event_does_not_write(components):
    status = components[View.STATUS]
    ok = wiring.bind(lambda: {View.STATUS: "fine"}, components, [status])
    assert ok() == {status: "fine"}
    other = wiring.bind(lambda: {View.VERDICT: "x"}, components, [status])
    with pytest.raises(KeyError, match="verdict"):
        other()
    unknown = wiring.bind(lambda: {"statsu": "x"}, components, [status])
    with pytest.raises(KeyError, match="statsu"):
        unknown()
