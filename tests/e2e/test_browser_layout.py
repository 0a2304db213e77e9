"""The page at every width, in a real browser (Debian's chromium, playwright), against the launched app:
a phone loads it at 390x844, a desktop at 1280x800 resizes to 390; the Run button is within the first
screen; every plot takes its panel's width on its first draw, a hidden tab's too, and after a resize;
nothing scrolls the page sideways; titles and tick labels fit; tables that scroll sideways say so; and
Compare strategies fills its table and chart row by row, with the prefill's progress in the status.
"""

from __future__ import annotations

import pytest

from tests.support.browser import needs_chromium, open_page, open_tab, set_max_new

pytestmark = [pytest.mark.slow, needs_chromium]
PLOT_TABS = ("Token survival", "Importance", "Layer scan", "Aux Cache", "Walkthrough")
SLACK = 3  # px: a plot's width may differ from its panel's by sub-pixel rounding

# Every drawn plot (visible now): its id, its drawing's (svg) width and its panel's (the block around the
# plot), their right edges, its title's and its legend's right edges, whether its x tick labels overlap,
# and what its colour bars (each bar with its ticks and title) run into: a plot area (any subplot's), a
# tick label or another colour bar (none when each stands clear, beside the plot areas).
PLOTS_JS = """() => {
  const box = e => e.getBoundingClientRect();
  const cut = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const clashes = gd => {
    const at = box(gd);
    const areas = Object.entries(gd._fullLayout._plots || {}).map(([name, sp]) => ({what: 'plot ' + name,
        left: at.left + sp.xaxis._offset, right: at.left + sp.xaxis._offset + sp.xaxis._length,
        top: at.top + sp.yaxis._offset, bottom: at.top + sp.yaxis._offset + sp.yaxis._length}));
    const labels = [...gd.querySelectorAll('.xtick text, .ytick text')].filter(e => box(e).width)
        .map(e => ({...box(e).toJSON(), what: 'tick label ' + e.textContent}));
    const bars = [...gd.querySelectorAll('.infolayer .colorbar')].map(e => ({...box(e).toJSON(), what: 'a colour bar'}));
    return bars.flatMap((bar, i) => [...areas, ...labels, ...bars.filter((_, j) => j !== i)]
        .filter(o => cut(bar, o)).map(o => `colour bar ${i} on ${o.what}`));
  };
  return [...document.querySelectorAll('.js-plotly-plot')].filter(gd => gd.offsetParent).map(gd => {
    const panel = box(gd.closest('.block') || gd.parentElement), plot = box(gd);
    const svg = gd.querySelector('.main-svg'), title = gd.querySelector('.gtitle');
    const legend = gd.querySelector('.legend .scrollbox') || gd.querySelector('.legend');
    const ticks = [...gd.querySelectorAll('.xaxislayer-above .xtick text')].map(box).filter(b => b.width)
        .sort((a, b) => a.top - b.top || a.left - b.left);  // row by row (subplots stack their axes)
    return {id: (gd.closest('[id]') || {}).id, svg: svg ? box(svg).width : 0, panel: panel.width,
            svg_right: svg ? box(svg).right : plot.right, panel_right: panel.right,
            title_right: title ? box(title).right : plot.left, plot_right: plot.right,
            legend_right: legend ? box(legend).right : plot.left,
            overlap: ticks.some((b, i) => i && Math.abs(b.top - ticks[i - 1].top) < 2
                                     && b.left < ticks[i - 1].right - 1),
            bars: clashes(gd)};
  });
}"""
SIDEWAYS_JS = "document.scrollingElement.scrollWidth - window.innerWidth"


def plots(page) -> list[dict]:
    page.wait_for_timeout(600)  # a resize is fitted in the next frames (assets/explorer.js)
    return page.evaluate(PLOTS_JS)


def check_fits(page, where: str, title_room: bool = True) -> list[dict]:
    """Every visible plot is as wide as its panel and inside it, its title and tick labels fit, its colour
    bars stand clear of its plot areas, tick labels and each other; the page does not scroll sideways."""
    drawn = plots(page)
    assert drawn, f"{where}: no plot drawn"
    for p in drawn:
        assert abs(p["svg"] - p["panel"]) <= SLACK, f"{where}: {p['id']} is {p['svg']} px in {p['panel']}"
        assert p["svg_right"] <= p["panel_right"] + SLACK, f"{where}: {p['id']} runs past its panel: {p}"
        if title_room:
            assert p["title_right"] <= p["plot_right"] + SLACK, f"{where}: {p['id']}'s title is cut off"
        assert p["legend_right"] <= p["plot_right"] + SLACK, f"{where}: {p['id']}'s legend is cut off"
        assert not p["overlap"], f"{where}: {p['id']}'s x tick labels overlap"
        assert not p["bars"], f"{where}: {p['id']}: {p['bars']}"
    assert page.evaluate(SIDEWAYS_JS) <= 0, f"{where}: the page scrolls sideways"
    return drawn


def run_within_first_screen(page, height: int) -> None:
    page.wait_for_selector("#lz-run", timeout=60_000)
    box = page.locator("#lz-run").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, f"Run at {box} is below the first screen"


def test_a_phone_sees_run_every_tab_and_plots_that_fit(browser, launched_app):
    page = open_page(browser, launched_app.url, 390, 844)
    page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
    run_within_first_screen(page, 844)
    assert not page.locator("#lz-tabs button[aria-label='More tabs']").is_visible(), "tabs hide in a menu"
    assert page.get_by_role("tab").count() >= 8, "every tab is in the tab row"
    for name in PLOT_TABS:
        open_tab(page, name)
        check_fits(page, f"390 px, {name}")
    open_tab(page, "Importance")  # its top-token table is wider than a phone: it says it scrolls
    page.wait_for_selector("#lz-top-table[data-lz-scroll]", timeout=10_000)
    hint = page.evaluate("getComputedStyle(document.querySelector('#lz-top-table'), '::after').content")
    assert "scroll" in hint, hint
    page.locator("#lz-top-table .virtual-table-viewport").evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    page.wait_for_function("document.querySelector('#lz-top-table').dataset.lzScroll === 'left'")
    assert page.evaluate(SIDEWAYS_JS) <= 0
    assert not page.errors, page.errors
    page.close()


def test_plots_take_their_panels_width_on_first_draw_and_after_a_resize(browser, launched_app):
    """Desktop: views redrawn while their tab is hidden (a recorded trace loaded from the Trace files tab)
    take their panel's width when the tab opens, not plotly's 700 px; then the window shrinks to a phone's."""
    page = open_page(browser, launched_app.url, 1280, 800)
    page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
    run_within_first_screen(page, 800)
    check_fits(page, "1280 px, first load")
    for name in ("Importance", "Aux Cache", "Trace files"):  # mounted, then hidden
        open_tab(page, name)
    page.locator("#lz-recorded input").click()
    page.get_by_role("option", name="Harbour notes (the answer changes)").click()
    page.wait_for_function("document.querySelector('#lz-source').innerText.includes('Harbour')")
    page.wait_for_timeout(1_500)  # every view redrawn, in hidden tabs
    for name in ("Importance", "Aux Cache", "Token survival"):
        open_tab(page, name)
        widths = {p["id"]: (p["svg"], p["panel"]) for p in check_fits(page, f"1280 px, {name} after a load")}
        assert all(w > 300 for w, _ in widths.values()), widths
    page.set_viewport_size({"width": 390, "height": 844})
    for name in PLOT_TABS:
        open_tab(page, name)
        check_fits(page, f"1280 -> 390 px, {name}")
    assert not page.errors, page.errors
    page.close()


def test_compare_fills_its_table_and_chart_row_by_row_and_shows_the_prefills_progress(browser, launched_app):
    page = open_page(browser, launched_app.url, 1280, 800)
    page.locator("#lz-prompt textarea").fill("The boat is red and the dock is long. " * 30 + "What colour?")
    set_max_new(page, 2)
    open_tab(page, "Strategies")
    page.evaluate(  # every status line the page shows, as it changes
        """() => { window.lzStatuses = [];
            new MutationObserver(() => window.lzStatuses.push(document.querySelector('#lz-status').innerText))
                .observe(document.querySelector('#lz-status'), {subtree: true, childList: true,
                                                                characterData: true}); }"""
    )
    page.click("#lz-compare")
    rows = "document.querySelectorAll('#lz-table [role=row].virtual-row').length"
    running = "document.querySelector('#lz-status [data-kind=run]') !== null"
    points = """(() => { const gd = document.querySelector('#lz-table-plot .js-plotly-plot');
        return gd && gd._fullData ? gd._fullData.reduce((n, d) => n + (d.x ? d.x.length : 0), 0) : 0; })()"""
    # the baseline and the first strategy are on screen while the other strategies still run
    page.wait_for_function(f"{rows} >= 2 && {running} && {points} >= 1", timeout=300_000)
    partial = page.evaluate(f"[{rows}, {points}]")
    page.wait_for_selector("#lz-status [data-kind=done]", timeout=300_000)
    final = page.evaluate(f"[{rows}, {points}]")
    assert partial[0] < final[0] == 4 and partial[1] < final[1] == 3, (partial, final)
    statuses = page.evaluate("window.lzStatuses")
    assert any("prefill: layer" in s for s in statuses), statuses[:20]
    legend = page.evaluate(
        "[...document.querySelectorAll('#lz-table-plot .legendtext')].map(e => e.textContent)"
    )
    assert legend and all("answer" in t for t in legend), legend  # each kind of mark has its entry
    assert not page.errors, page.errors
    page.close()
