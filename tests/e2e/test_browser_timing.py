"""Every number on screen is the method's: the Run's speed ratios agree with plain runs made around it
(tests/e2e/test_browser.py has the rest of the visitor's path; apart so the two share the workers)."""

from __future__ import annotations

import re
import statistics

import pytest

from tests.support.browser import needs_chromium, open_page, run_button, set_max_new, wait_done

pytestmark = [pytest.mark.slow, needs_chromium]

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
    Run timed while figures are drawn (decode steps 2x) or with the scan in its baseline would not.
    Every measured Run follows one of the same prompt (the cached baseline of issue 23: the server
    keeps the prompt's layer scan, and times a baseline with each Run)."""
    from app.session import START_EXAMPLE, load_examples

    prompt = load_examples()[START_EXAMPLE].prompt
    page = open_page(browser, launched_app.url)
    try:
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        set_max_new(page, 2)  # a first Run of this prompt: the server keeps its layer scan (ScanCache),
        assert "Done" in run_button(page, "lz-run")  # so each Run below reuses it; its baseline is re-run
        tries = []
        for _attempt in range(3):
            before = plain_ratios(embedded_lm, prompt, 2)
            shown = run_example(page)
            after = plain_ratios(embedded_lm, prompt, 2)
            assert set(shown) == {"TTFT", "whole generation"}, shown
            plain = {k: before[k] + after[k] for k in shown}
            misses = [k for k in shown if not consistent(shown[k], plain[k])]
            tries.append(f"on screen {shown}, plain runs {plain}")
            print(tries[-1])
            if not misses:
                break
        assert not misses, "\n".join(tries)
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
