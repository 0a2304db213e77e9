"""A real browser (Debian's chromium, driven by playwright) against the launched app, as a visitor acts:
paste the instant the page shows, run the committed prompt whose pruned answer changes, follow the
explanation, compare strategies, read the walkthrough at desktop and phone widths, load a hostile trace.
"""

from __future__ import annotations

import json

import pytest

from tests.support.app_server import ROOT
from tests.support.browser import (
    needs_chromium,
    open_page,
    open_tab,
    plot,
    run_button,
    set_max_new,
    table_rows,
)

DIVERGING = (
    "Harbour notes (the answer changes)"  # assets/examples: default's answer differs from the baseline's
)
BOAT = "The boat is red and the dock is long. " * 12 + "What colour is the boat?"  # ~130 tokens
SHORT = "The boat is red. What colour is the boat?"  # the labels need a run, not a long one
pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def page(browser, launched_app):
    """One desktop page for the tests that set their own inputs (each page load costs seconds of CPU)."""
    p = open_page(browser, launched_app.url)
    yield p
    p.close()


def test_a_prompt_pasted_the_instant_the_page_shows_is_kept_and_is_what_runs(page):
    """The first test on the module's page: it pastes while the page has only just been opened."""
    box = page.wait_for_selector("#lz-prompt textarea", state="attached", timeout=60_000)
    mine = "Zanzibar quokka notes: the vault code is 90417. " * 3 + "What is the vault code?"
    box.fill(mine)  # at once, while the page may still be starting
    page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)  # the start-up view drawn
    page.wait_for_timeout(2_000)
    assert page.input_value("#lz-prompt textarea") == mine, "start-up overwrote the visitor's prompt"
    page.click("#lz-intro")  # the visitor moves on (the prompt box loses focus)
    page.wait_for_function("document.querySelector('#lz-example input').value === 'custom'", timeout=10_000)
    set_max_new(page, 3)
    assert "Done" in run_button(page, "lz-run")
    open_tab(page, "Importance")
    assert "quokka" in page.inner_text("#lz-prompt-html")  # the run ran the visitor's text
    assert not page.errors, page.errors


def test_the_label_on_screen_is_the_config_that_ran_for_every_preset(page):
    """Pick each preset (the schedule table fills in), Run: the source line, read from the run's trace,
    names the preset and its own scoring (question: window 16), never `custom`."""
    from lazyllm import PRESETS, LazyConfig

    page.locator("#lz-prompt textarea").fill(SHORT)
    set_max_new(page, 1)
    for name in PRESETS:
        page.locator("#lz-preset input").click()
        page.get_by_role("option", name=name, exact=True).click()
        page.wait_for_timeout(500)  # the schedule table fills in
        assert "Done" in run_button(page, "lz-run")
        source = page.inner_text("#lz-source")
        cfg = LazyConfig.preset(name, num_layers=30)
        assert f"config {name} ·" in source, source
        assert f"scoring {cfg.variant}" in source and f"strategy {cfg.strategy}" in source
        sched = ", ".join(f"{layer}:{k:g}" for layer, k in cfg.schedule) or "none"
        assert f"schedule {sched}" in source
    assert not page.errors, page.errors


@pytest.fixture(scope="module")
def diverged(page):
    """The committed prompt whose answer pruning too early changes: picking it selects `paper` (prune
    after ~30% of the depth), which the example is about; run once (on the module's page)."""
    set_max_new(page, 16)  # the whole answer (the server's limit)
    page.locator("#lz-example input").click()
    page.get_by_role("option", name=DIVERGING).click()
    page.wait_for_function("document.querySelector('#lz-prompt textarea').value.includes('harbour')")
    page.wait_for_function("document.querySelector('#lz-preset input').value === 'paper'")
    assert "Done" in run_button(page, "lz-run")
    return page


def test_the_verdict_says_where_and_how_the_answer_changed(diverged):
    verdict = diverged.inner_text("#lz-verdict")
    assert verdict.startswith("Diverged at step") and "teacher-forced KL" in verdict, verdict
    assert "the answer is wrong" in verdict and "the baseline's is right" in verdict
    assert "config paper" in diverged.inner_text("#lz-source")  # the label is read from the run's trace
    metrics = diverged.inner_text("#lz-metrics")
    assert "free-running agreement" in metrics and "teacher-forced" in metrics


def test_evidence_is_there_without_a_click(diverged):
    open_tab(diverged, "Evidence")
    assert diverged.locator("#lz-split-table").is_visible()  # the first view: the baseline at the split
    diverged.get_by_role("tab", name="Focus span across steps").click()  # the second: the answer's span
    story = diverged.inner_text("#lz-evidence-md")
    assert "Why this span" in story and "the example's answer" in story
    assert "after layer" in story or "kept all" in story  # where prefill pruned the span (or that it did not)
    assert len(table_rows(diverged, "lz-evidence-table")) >= 3


def test_one_click_goes_to_the_divergence(diverged):
    label = diverged.inner_text("#lz-jump")
    step = int(label.split("step ")[1].rstrip(")"))
    diverged.click("#lz-jump")
    diverged.wait_for_function(
        f"document.querySelector('#lz-step input[type=number]').value === '{step}'", timeout=30_000
    )
    open_tab(diverged, "Token survival")
    diverged.wait_for_function(
        f"(document.querySelector('#lz-survival-plot .js-plotly-plot')?.layout.title.text || '')"
        f".includes('decode step {step}')",
        timeout=30_000,
    )
    open_tab(diverged, "Evidence")
    diverged.get_by_role("tab", name="Focus span across steps").click()
    assert f"step {step}" in diverged.inner_text("#lz-evidence-md")


def test_a_click_on_the_fidelity_chart_opens_that_step(diverged):
    """Click in the column of step 5 (its pixel read from the chart's own x axis): the slider goes there."""
    step = 5
    diverged.locator("#lz-fidelity-plot").scroll_into_view_if_needed()
    x, y = diverged.evaluate(
        """step => {
            const gd = document.querySelector('#lz-fidelity-plot .js-plotly-plot');
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            return [box.left + xa._offset + xa.l2p(step), box.top + ya._offset + ya._length / 2];
        }""",
        step,
    )
    diverged.mouse.move(x, y)
    diverged.wait_for_timeout(500)
    diverged.mouse.click(x, y)
    diverged.wait_for_function(
        f"document.querySelector('#lz-step input[type=number]').value === '{step}'", timeout=30_000
    )


def test_editing_the_prompt_makes_the_example_custom(diverged):
    diverged.locator("#lz-prompt textarea").press("End")
    diverged.locator("#lz-prompt textarea").type(" Thanks.")
    diverged.wait_for_function(
        "document.querySelector('#lz-example input').value === 'custom'", timeout=10_000
    )


def test_strategies_and_sweep(page):
    """On a short prompt of the visitor's (each strategy and sweep point is a real run of the model)."""
    page.locator("#lz-prompt textarea").fill(BOAT)
    set_max_new(page, 1)
    open_tab(page, "Strategies")
    assert "Done" in run_button(page, "lz-compare")
    runs = [r[0] for r in table_rows(page, "lz-table")]
    assert runs == ["baseline", "lazy", "static", "random"], runs
    assert plot(page, "lz-table-plot")["points"] >= 3
    assert "Done" in run_button(page, "lz-sweep")
    assert len(table_rows(page, "lz-table")) == 6
    assert "sweep" in plot(page, "lz-table-plot")["title"].lower()
    assert not page.errors, page.errors


def walk_through(page, width: int) -> None:
    """Turn every page of the walkthrough: none clips its text; at phone width nothing scrolls sideways."""
    page.wait_for_selector("#lz-survival-plot .js-plotly-plot", state="attached", timeout=60_000)
    open_tab(page, "Walkthrough")
    page.wait_for_function("document.querySelector('#lz-walk-nav').innerText.includes(' of ')")
    while not page.locator("#lz-back").is_disabled():  # a page used before may show a later page
        page.click("#lz-back")
    pages = int(page.inner_text("#lz-walk-nav").split(" of ")[1])
    for n in range(1, pages + 1):
        page.wait_for_function(f"document.querySelector('#lz-walk-nav').innerText.includes('Page {n} of')")
        clipped = page.evaluate(
            """() => [...document.querySelectorAll('#lz-walk-md, #lz-walk-md *')]
                .filter(e => e.scrollHeight > e.clientHeight + 1 && getComputedStyle(e).overflowY !== 'visible')
                .map(e => e.tagName + '.' + e.className)"""
        )
        assert not clipped, f"page {n} at width {width}: {clipped}"
        if n < pages:
            page.click("#lz-next")
    assert page.locator("#lz-next").is_disabled()
    if width < 500:
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    assert not page.errors, page.errors


def test_the_walkthrough_reads_without_clipping_on_a_desktop(page):
    page.set_viewport_size({"width": 1280, "height": 800})
    walk_through(page, 1280)


def test_the_walkthrough_reads_without_clipping_on_a_phone(browser, launched_app):
    page = open_page(browser, launched_app.url, 390, 844)  # loaded at phone width, as a phone would
    walk_through(page, 390)
    page.close()


def test_a_hostile_trace_runs_no_script(page, tmp_path):
    """Every string of a shared trace file is text: payloads in the model, config, strategy, tokens,
    texts and tables set no window property."""
    payload = '<img src=x onerror="window.pwned=1">'
    smallest = min((ROOT / "assets" / "traces").glob("*.json"), key=lambda p: p.stat().st_size)
    good = json.loads(smallest.read_text())
    good.update(model=payload, strategy=payload, config_label=payload, variant=payload)
    good["tokens"] = [payload if i % 7 == 0 else t for i, t in enumerate(good["tokens"])]
    c = good["explorer"]["comparison"]
    c.update(baseline_text=payload, lazy_text=payload, config={"label": payload, "describe": payload})
    c["lazy_tokens"] = [payload] * len(c["lazy_tokens"])
    good["explorer"]["notes"] = [payload]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(good))
    open_tab(page, "Trace files")
    page.locator("#lz-upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "document.querySelector('#lz-status').innerText.includes('Loaded')", timeout=60_000
    )
    for tab in ("Importance", "Evidence", "Aux Cache", "Walkthrough", "Token survival"):
        open_tab(page, tab)
        page.wait_for_timeout(500)
    assert page.evaluate("window.pwned") is None
    assert payload in page.inner_text("#lz-source")  # shown as text


def test_stop_leaves_what_the_run_computed_and_no_running_or_pending_label(browser, launched_app):
    """Press Stop while the pruned run decodes (the opening pass-key example, ~1.2k tokens): the status
    says where it stopped, the views show that run as far as it went, and nothing says "running" or
    "Pending" any more."""
    page = open_page(browser, launched_app.url)
    try:
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        set_max_new(page, 16)
        page.click("#lz-run")
        page.wait_for_function(  # the live text of the pruned run: it is decoding
            "document.querySelector('#lz-lazy-text')?.textContent.includes('(running)')", timeout=120_000
        )
        page.click("#lz-stop")
        page.wait_for_function(
            "document.querySelector('#lz-status').innerText.includes('Stopped at')", timeout=60_000
        )
        status = page.inner_text("#lz-status")
        page.wait_for_timeout(1000)  # the stopped views are drawn
        body = page.inner_text("body").lower()  # as drawn (labels are upper-cased by the style sheet)
        assert "running)" not in body and "pending" not in body, status
        assert page.locator("[data-pending]").count() == 0
        title = plot(page, "lz-survival-plot")["title"]
        assert title.startswith("Token survival"), title  # that run's survival, not an empty figure
        assert "stopped at" in page.inner_text("#lz-source").lower()
        assert not page.errors, page.errors
    finally:
        page.close()
