"""One run on screen, and a link to it: a real browser (chromium, playwright) against the launched app.

Picking another example shows that example's recorded run with the inputs it ran with; loading a
trace file fills the run panel from the file; editing the prompt marks the results on screen as
another prompt's; a link made from the panel reopens the same inputs, and a bad link says what is
wrong. No model runs here: every view is a recorded trace's (three page loads in all).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.support.app_server import ROOT
from tests.support.browser import needs_chromium, open_page, open_tab

pytestmark = [pytest.mark.slow, needs_chromium]
HARBOUR = "Harbour notes (the answer changes)"
CODE = "Code completion"
MINE = "Notes of my own: the heron is grey and the gate code is 3141. What is the gate code?"


def value(page, selector: str) -> str:
    return page.input_value(selector)


def wait_value(page, selector: str, want: str, timeout=60_000) -> None:
    page.wait_for_function(
        "([s, v]) => document.querySelector(s) && document.querySelector(s).value === v",
        arg=[selector, want],
        timeout=timeout,
    )


def strategy(page) -> str:
    return page.evaluate("document.querySelector('#lz-strategy input:checked')?.value")


def stale(page) -> str:
    """The note over results of another prompt ("" when none is up)."""
    note = page.locator("#lz-stale-note")
    return note.inner_text() if note.count() else ""


def opacity(page, elem_id: str) -> float:
    return float(page.evaluate(f"getComputedStyle(document.querySelector('#{elem_id}')).opacity"))


def pick_example(page, name: str) -> None:
    page.locator("#lz-example input").click()
    page.get_by_role("option", name=name).click()


def test_nothing_of_another_run_looks_current(browser, launched_app, tmp_path):
    """(a) The page opens on the pass-key run. Picking Harbour notes shows Harbour notes' recorded run
    and its inputs; loading a trace file shows the file's run and fills the panel from it; editing the
    prompt then puts the note up and dims the results (nothing of that run looks current)."""
    page = open_page(browser, launched_app.url)
    try:
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        assert "Pass-key" in page.inner_text("#lz-source") and stale(page) == ""
        passkey_text = page.inner_text("#lz-lazy-text")

        pick_example(page, HARBOUR)
        page.wait_for_function(
            "document.querySelector('#lz-source').innerText.includes('Harbour')", timeout=60_000
        )
        assert "harbour" in value(page, "#lz-prompt textarea").lower()
        assert value(page, "#lz-preset input") == "paper" and value(page, "#lz-expected input") == "57522"
        assert page.inner_text("#lz-lazy-text") != passkey_text and "Pending" not in page.inner_text(
            "#lz-verdict"
        )
        page.wait_for_timeout(1_000)  # the screen check after the pick
        assert stale(page) == "", "the example's own run is marked as another prompt's"

        # a trace file of a prompt of the visitor's own: its inputs fill the panel
        data = json.loads((ROOT / "assets" / "traces" / "4_code.json").read_text())
        inputs = dict(prompt=MINE, example=None, expected="3141", model=None, preset="fast")
        inputs.update(schedule="12:0.3, 18:0.3", strategy="static", new_tokens=5)
        data["explorer"].update(example=None, expected="3141", inputs=inputs)
        path = tmp_path / "mine.json"
        path.write_text(json.dumps(data))
        open_tab(page, "Trace files")
        page.locator("#lz-upload input[type=file]").set_input_files(str(path))
        wait_value(page, "#lz-prompt textarea", MINE)
        assert "file mine.json" in page.inner_text("#lz-source")
        assert value(page, "#lz-example input") == "custom" and value(page, "#lz-preset input") == "fast"
        assert strategy(page) == "static" and value(page, "#lz-max-new input[type=number]") == "5"
        assert value(page, "#lz-expected input") == "3141"
        assert "Loaded" in page.inner_text("#lz-status") and "Harbour" not in page.inner_text("#lz-source")
        page.wait_for_timeout(1_000)
        assert stale(page) == "" and opacity(page, "lz-verdict") > 0.9

        # the prompt edited: the run on screen is another prompt's, and says so
        page.locator("#lz-prompt textarea").press("End")
        page.locator("#lz-prompt textarea").type(" Thanks.")
        page.wait_for_selector("#lz-stale-note", timeout=30_000)
        assert "From a previous prompt" in stale(page) and "file mine.json" in stale(page)
        assert opacity(page, "lz-verdict") < 0.6 and opacity(page, "lz-survival-plot") < 0.6

        # back to the example: its recorded run, current again
        pick_example(page, CODE)
        page.wait_for_function(
            "document.querySelector('#lz-source').innerText.includes('recorded example: Code completion')",
            timeout=60_000,
        )
        page.wait_for_function("!document.querySelector('#lz-stale-note')", timeout=30_000)
        assert opacity(page, "lz-verdict") > 0.9
        assert not page.errors, page.errors
    finally:
        page.close()


def test_a_shared_link_restores_the_inputs(browser, launched_app):
    """(b) The link made from the panel (a pasted prompt, preset, strategy, token count) opens a new page
    with the same inputs; an example's link shows the example's recorded run; a bad link says why."""
    page = open_page(browser, launched_app.url)
    try:
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        page.fill("#lz-prompt textarea", MINE)
        page.locator("#lz-preset input").click()
        page.get_by_role("option", name="question").click()
        page.locator("#lz-strategy label", has_text="random").click()
        page.locator("#lz-max-new input[type=number]").fill("7")
        page.locator("#lz-max-new input[type=number]").press("Enter")
        page.wait_for_timeout(500)
        page.click("#lz-link-button")
        page.wait_for_function(
            "document.querySelector('#lz-link textarea, #lz-link input').value.startsWith('http')",
            timeout=30_000,
        )
        link = page.evaluate("document.querySelector('#lz-link textarea, #lz-link input').value")
    finally:
        page.close()
    assert link.startswith(launched_app.url) and "prompt=" in link and "example=" not in link

    page = open_page(browser, link)
    try:
        wait_value(page, "#lz-prompt textarea", MINE)
        assert value(page, "#lz-preset input") == "question" and strategy(page) == "random"
        assert value(page, "#lz-max-new input[type=number]") == "7"
        assert value(page, "#lz-example input") == "custom"
        page.wait_for_selector(
            "#lz-stale-note", timeout=30_000
        )  # the opening example's run is not this prompt's
        assert "Opened a link" in page.inner_text("#lz-status")

        page.goto(f"{launched_app.url}?example={quote(CODE)}&strategy=static&tokens=3")
        page.wait_for_function(
            "document.querySelector('#lz-source')?.innerText.includes('Code completion')", timeout=60_000
        )
        assert "inventory" in value(page, "#lz-prompt textarea").lower() and strategy(page) == "static"
        assert value(page, "#lz-max-new input[type=number]") == "3"

        page.goto(
            f"{launched_app.url}?example={quote(CODE)}&strategy=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
        )
        page.wait_for_selector("#lz-status [data-kind=error]", timeout=60_000)
        status = page.inner_text("#lz-status")
        assert "could not be opened" in status and "strategy must be one of" in status, status
        assert "Pass-key" in page.inner_text("#lz-source")  # the page as it opens without a link
        assert not page.errors, page.errors
    finally:
        page.close()
