"""Driving Debian's chromium (playwright) against a launched app as a visitor does: open a page, click a
tab, set inputs, run, read plots and tables as drawn. The `browser` fixture is in tests/e2e/conftest.py."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip


def plot(page, elem_id: str) -> dict:
    """Trace types, title and sizes of the plotly figure inside a gr.Plot, read from the page."""
    page.wait_for_selector(f"#{elem_id} .js-plotly-plot", timeout=60_000)
    return page.evaluate(
        """id => {
            const gd = document.querySelector('#' + id + ' .js-plotly-plot');
            const full = gd._fullData;
            return {types: full.map(d => d.type), title: (gd.layout.title || {}).text || '',
                    rows: full[0] && full[0].z ? full[0].z.length : 0,
                    points: full.reduce((n, d) => n + (d.x ? d.x.length : 0), 0)};
        }""",
        elem_id,
    )


def open_page(browser, url: str, width=1400, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    return page


def table_rows(page, elem_id: str) -> list[list[str]]:
    """The body rows (cell texts) of a gr.Dataframe as drawn (Gradio draws a virtual table)."""
    return page.evaluate(
        """id => [...document.querySelectorAll('#' + id + ' [role=row].virtual-row')]
            .map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))
            .filter(r => r.length && r[0])""",
        elem_id,
    )


def open_tab(page, name: str) -> None:
    """Click a tab; at phone width the tabs that do not fit are in the "More tabs" menu."""
    page.wait_for_selector("#lz-tabs [role=tablist] [role=tab]", timeout=60_000)
    tab = page.get_by_role("tab", name=name)
    if not tab.count():
        page.click("#lz-tabs button[aria-label='More tabs']")
        tab = page.locator("#lz-tabs .overflow-dropdown button", has_text=name)
    tab.first.click()


def wait_done(page, timeout=300_000) -> str:
    page.wait_for_selector("#lz-status [data-kind=done], #lz-status [data-kind=error]", timeout=timeout)
    return page.inner_text("#lz-status")


def set_max_new(page, n: int) -> None:
    page.locator("#lz-max-new input[type=number]").fill(str(n))
    page.locator("#lz-max-new input[type=number]").press("Enter")


def run_button(page, elem_id: str) -> str:
    page.click(f"#{elem_id}")
    page.wait_for_selector("#lz-status [data-kind=run]", timeout=60_000)
    return wait_done(page)


needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"
)
