"""A real browser (Debian's chromium, driven by playwright) against the launched app: a recorded trace
shows before any model loads, then an example runs and the main views render."""

from __future__ import annotations

import os

import pytest
from test_app_client import launched_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


def plot_data(page, elem_id: str) -> dict:
    """Trace types and sizes of the plotly figure inside a gr.Plot, read from the page."""
    page.wait_for_selector(f"#{elem_id} .js-plotly-plot", timeout=30_000)
    return page.evaluate(
        """id => {
            const gd = document.querySelector('#' + id + ' .js-plotly-plot');
            const full = gd._fullData;  // decoded arrays (plotly ships numpy arrays base64-encoded)
            return {types: full.map(d => d.type), title: (gd.layout.title || {}).text || '',
                    rows: full[0].z ? full[0].z.length : 0,
                    points: full.reduce((n, d) => n + (d.x ? d.x.length : 0), 0)};
        }""",
        elem_id,
    )


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    url, _ = launched_app()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.errors = errors
        yield page
        browser.close()


def test_recorded_trace_shows_before_any_model_loads(page):
    page.wait_for_selector("#lz-status [data-kind=done]", timeout=60_000)
    assert "recorded example" in page.inner_text("#lz-status")
    survival = plot_data(page, "lz-survival-plot")
    assert survival["types"] == ["heatmap"] and survival["rows"] == 30
    assert "×" in page.inner_text("#lz-metrics")  # the recorded run's speedups


def test_run_an_example_and_see_every_view(page, tmp_path):
    page.locator("#lz-example input").click()
    page.get_by_role("option", name="Code completion").click()
    page.wait_for_function("document.querySelector('#lz-prompt textarea').value.includes('total_value')")
    page.locator("#lz-max-new input[type=number]").fill("6")
    page.locator("#lz-max-new input[type=number]").press("Enter")
    page.click("#lz-run")
    page.wait_for_function(  # live progress of the pruned run, then Stop
        "document.querySelector('#lz-status').innerText.includes('LazyLLM:')", timeout=120_000
    )
    page.click("#lz-stop")
    page.wait_for_function("document.querySelector('#lz-status').innerText.includes('Stopped')")
    page.click("#lz-run")  # the stopped run gave its slot back: this one is not left queued
    page.wait_for_selector("#lz-status [data-kind=done], #lz-status [data-kind=error]", timeout=240_000)
    status = page.inner_text("#lz-status")
    assert "Done" in status, status
    assert "run" in page.inner_text("#lz-source")

    survival = plot_data(page, "lz-survival-plot")
    assert survival["types"] == ["heatmap"] and survival["rows"] == 30
    speed = plot_data(page, "lz-speed-plot")
    assert "TTFT speedup" in speed["title"] and speed["types"] == ["bar", "bar"]
    metrics = page.inner_text("#lz-metrics")
    assert "TTFT" in metrics and metrics.count("×") >= 2  # TTFT and generation speedups
    page.screenshot(path=str(tmp_path / "main.png"), full_page=True)

    page.get_by_role("tab", name="Importance").click()
    importance = plot_data(page, "lz-importance-plot")
    assert "scattergl" in importance["types"] and importance["points"] > 100
    assert page.locator("#lz-prompt-html .lz-tok").count() > 500

    page.get_by_role("tab", name="Aux Cache").click()
    revivals = plot_data(page, "lz-revivals-plot")
    assert revivals["types"] == ["heatmap"] and "Revivals" in revivals["title"]
    page.screenshot(path=str(tmp_path / "aux.png"), full_page=True)

    page.get_by_role("tab", name="Walkthrough").click()
    page.click("#lz-next")
    page.wait_for_function("document.querySelector('#lz-walk-nav').innerText.includes('Page 2 of 7')")
    assert "last token" in page.inner_text("#lz-walk-md")

    page.get_by_role("tab", name="Evidence").click()
    page.locator("#lz-focus textarea").fill("total_value")
    page.locator("#lz-focus textarea").press("Enter")
    page.wait_for_function(
        "(document.querySelector('#lz-evidence-plot .js-plotly-plot')?.layout.title.text || '').includes('total')"
    )
    assert "Revived from the Aux Cache" in page.inner_text("#lz-evidence-md")
    assert (tmp_path / "main.png").stat().st_size > 20_000
    assert not page.errors, page.errors
