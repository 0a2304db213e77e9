"""A real browser (Debian's chromium, driven by playwright) against the launched app, as a visitor acts:
paste the instant the page shows, run the committed prompt whose pruned answer changes, follow the
explanation, compare strategies, read the walkthrough at desktop and phone widths, load a hostile trace.
"""

from __future__ import annotations

import json
import os
import re
import statistics

import pytest

from tests.support.app_server import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip
DIVERGING = (
    "Harbour notes (the answer changes)"  # assets/examples: default's answer differs from the baseline's
)
BOAT = "The boat is red and the dock is long. " * 12 + "What colour is the boat?"  # ~130 tokens
SHORT = "The boat is red. What colour is the boat?"  # the labels need a run, not a long one
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str, width=1400, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(browser, launched_app):
    """One desktop page for the tests that set their own inputs (each page load costs seconds of CPU)."""
    p = open_page(browser, launched_app.url)
    yield p
    p.close()


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


# --- every number on screen is the method's -------------------------------------------------------

NEW_TOKENS = 16
TOLERANCE = 0.10  # the bound; the machine is shared (two test workers on two cores)


def screen_ratios(page) -> dict[str, float]:
    """The metrics table's ratios: {"TTFT": x, "whole generation": y} (x > 1: LazyLLM faster)."""
    rows = page.evaluate(
        """() => [...document.querySelectorAll('#lz-metrics-table tr')]
            .map(r => [...r.children].map(c => c.innerText.trim()))"""
    )
    out = {}
    for row in rows:
        m = re.match(r"([0-9.]+)×", row[-1]) if row else None
        if m and row[0].startswith(("TTFT", "whole generation")):
            out[row[0].split(" (")[0]] = float(m.group(1))
    return out


def plain_ratios(lm, prompt: str, rounds: int) -> dict[str, list[float]]:
    """Plain runs (no trace, no scan, no checkpoints), default then baseline, `rounds` times: the
    TTFT and whole-generation ratio of each round."""
    from lazyllm import LazyConfig, generate

    cfg, out = LazyConfig.preset("default"), {"TTFT": [], "whole generation": []}
    for _ in range(rounds):
        lazy = generate(lm, prompt, cfg, max_new_tokens=NEW_TOKENS)
        base = generate(lm, prompt, max_new_tokens=NEW_TOKENS)
        k = min(len(base.timings.step_s), len(lazy.timings.step_s))
        out["TTFT"].append(base.timings.ttft_s / lazy.timings.ttft_s)
        out["whole generation"].append(sum(base.timings.step_s[:k]) / sum(lazy.timings.step_s[:k]))
    return out


def consistent(shown: float, plain: list[float]) -> bool:
    """Within 10% of the plain runs made around it: of their median, or of their range (on a shared
    2-core machine, with another test worker busy, single runs spread by more than 10%)."""
    lo, hi = min(plain) * (1 - TOLERANCE), max(plain) * (1 + TOLERANCE)
    return abs(shown / statistics.median(plain) - 1) <= TOLERANCE or lo <= shown <= hi


def run_example(page) -> dict[str, float]:
    set_max_new(page, NEW_TOKENS)
    assert "Done" in run_button(page, "lz-run")  # waits for this run to start, then to end
    return screen_ratios(page)


def test_the_speed_ratios_on_screen_are_those_of_plain_runs(browser, launched_app, embedded_lm):
    """The page opens on the pass-key example (~1.2k tokens): its Run's TTFT and whole-generation
    ratios agree with plain interleaved runs made here just before and after it (`consistent`). Up to
    three tries: a single Run on a shared 2-core machine can meet a burst of another test's work; a
    Run timed while figures are drawn (decode steps 2x) or with the scan in its baseline would not."""
    from app.session import START_EXAMPLE, load_examples

    prompt = load_examples()[START_EXAMPLE].prompt
    page = open_page(browser, launched_app.url)
    try:
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        for _attempt in range(3):
            before = plain_ratios(embedded_lm, prompt, 2)
            shown = run_example(page)
            after = plain_ratios(embedded_lm, prompt, 2)
            assert set(shown) == {"TTFT", "whole generation"}, shown
            plain = {k: before[k] + after[k] for k in shown}
            misses = [k for k in shown if not consistent(shown[k], plain[k])]
            if not misses:
                break
        assert not misses, f"on screen {shown}, plain runs {plain} (last of 3 tries)"
        note = page.inner_text("#lz-timing-note")
        assert "one run each, back to back" in note and "left out" in note, note
    finally:
        page.close()


def test_a_prompt_pasted_over_an_example_is_not_judged_by_its_answer(browser, launched_app):
    """Paste over the opening example and click Run at once, before the page has caught up: the
    example's expected answer (68143) leaves its field and the verdict judges nothing."""
    page = open_page(browser, launched_app.url)
    try:
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        assert page.input_value("#lz-expected input") == "68143"
        set_max_new(page, 2)
        page.fill("#lz-prompt textarea", "The heron is grey. What colour is the heron?")
        page.click("#lz-run")  # no wait: the edit and the run race
        status = wait_done(page)
        assert "Done" in status and "answer is" not in status, status
        verdict = page.inner_text("#lz-verdict-line")
        assert "answer is" not in verdict and "68143" not in verdict, verdict
        assert page.input_value("#lz-expected input") == ""
        assert page.input_value("#lz-example input") == "custom"
    finally:
        page.close()
