"""Feedback while a job runs and what the charts need at every width, without a browser: the prefill's
progress posted layer by layer (a tiny real model), the status line it makes, the strategies chart's
legend and texts, the shared title / mode bar / axis settings, and the table's columns."""

from __future__ import annotations

import pytest

from app import session, views
from app.callbacks import Callbacks
from app.figures import tradeoff_plot
from app.inputs import RunRequest
from app.layout import TABLE_COLUMNS
from app.plotting import MODEBAR, TITLE_ANCHOR, layout, title_place
from app.serving import EMBEDDED, Limits
from app.session import App, Context, run_job, table_job, table_row
from app.state import Progress
from lazyllm.compare import Comparison

PROMPT = "The pass key is 4821. Remember it. " + "The grass is green. " * 10 + "What is the pass key?"


@pytest.fixture
def app(tiny_app_lm):
    return App(Limits(max_new_tokens=8, max_prompt_tokens=400), loader=lambda name: tiny_app_lm)


def request(app, max_new=3) -> RunRequest:
    return RunRequest.parse(app.limits, PROMPT, EMBEDDED, "default", [[1, 0.5], [3, 0.5]], "lazy", max_new)


def prefills(posted) -> list[tuple]:
    return [(e.run, e.index, e.prefill) for e in posted if isinstance(e, Progress) and e.prefill]


def test_progress_says_which_prefill_layer_runs_and_counts_it_in_the_bar():
    p = Progress("LazyLLM", 0, 3, 0, 8, "", prefill=(12, 30))
    assert p.what == "prefill: layer 12/30"
    assert Progress("LazyLLM", 0, 3, 0, 8, "").what == "prefill"
    assert Progress("LazyLLM", 0, 3, 5, 8, "").what == "decode step 5/7"
    done = Progress("LazyLLM", 0, 3, 0, 8, "", prefill=(30, 30)).fraction
    assert p.fraction < done == pytest.approx(Progress("LazyLLM", 0, 3, 0, 8, "").fraction)
    assert Progress("baseline", 1, 3, 7, 8, "").fraction == pytest.approx(2 / 3)


def test_a_run_posts_each_prefill_layer_of_the_pruned_run_then_of_the_baseline(app, tiny_app_lm, monkeypatch):
    monkeypatch.setattr(session, "PREFILL_EVERY_S", 0.0)  # every layer (a real prefill's take ~0.3 s each)
    posted = []
    events = list(run_job(Context(app, post=posted.append), request(app)))
    L = tiny_app_lm.num_layers
    assert prefills(posted) == [("LazyLLM", 0, (i, L)) for i in range(1, L + 1)] + [
        ("baseline", 1, (i, L)) for i in range(1, L + 1)
    ]
    assert type(events[-1]).__name__ == "Finished"
    assert not prefills(events)  # posted at once, not yielded after the step


def test_a_table_job_posts_its_baselines_prefill_then_each_rows(app, tiny_app_lm, monkeypatch):
    monkeypatch.setattr(session, "PREFILL_EVERY_S", 0.0)
    posted = []
    list(table_job(Context(app, post=posted.append), request(app, 2), "strategies"))
    L = tiny_app_lm.num_layers
    runs = [("baseline", 0), ("lazy", 1), ("static", 3), ("random", 5)]  # each row runs (pruned, forced)
    assert prefills(posted) == [(run, i, (n, L)) for run, i in runs for n in range(1, L + 1)]


def test_a_prefill_posts_its_first_layer_then_at_most_every_prefill_every_s(app, tiny_app_lm, monkeypatch):
    monkeypatch.setattr(session, "PREFILL_EVERY_S", 3600.0)
    posted = []
    report = Context(app, post=posted.append).prefill_hook(["LazyLLM", "baseline"], 0, 3, 8)
    for _ in range(2):  # two runs' prefills of 6 layers, as fast as a tiny model's
        for layer in range(1, 7):
            report(layer, 6)
    assert prefills(posted) == [("LazyLLM", 0, (1, 6)), ("baseline", 1, (1, 6))]
    monkeypatch.setattr(session, "PREFILL_EVERY_S", 0.0)
    report(1, 6)
    report(2, 6)
    assert prefills(posted)[-1] == ("baseline", 1, (2, 6))


def test_a_job_without_a_page_posts_nothing_and_the_api_still_runs(app):
    assert Context(app).prefill_hook(["LazyLLM"], 0, 3, 8) is None
    assert "verdict" in app.run_api(PROMPT, max_new_tokens=2)


def test_the_status_line_shows_the_prefills_layers(app, tiny_app_lm):
    args = (PROMPT, EMBEDDED, "default", [[1, 0.5], [3, 0.5]], "lazy", 3, "", None, "", "importance")
    statuses = [o["status"] for o in Callbacks(app).runner("run")(*args) if "status" in o]
    # the job's events come in batches while the page draws: at least one "prefill: layer l/L" shows
    layers = f"/{tiny_app_lm.num_layers} ·"
    assert any(": prefill: layer " in s and layers in s for s in statuses), statuses
    assert 'data-kind="done"' in statuses[-1]


def _row(label, kept, kl=0.01, text="The pass key is 4821."):
    return dict(label=label, kept=kept, mean_kl=kl, ttft_speedup=1.5, compute_fraction=0.7, text=text)


def test_every_mark_of_the_tradeoff_chart_has_a_legend_entry_and_its_runs_text():
    one_kind = tradeoff_plot([_row("keep 0.1", False), _row("keep 0.2", False)], "Sweep")
    assert one_kind.layout.showlegend is True  # plotly hides the legend of a single trace
    assert [t.name for t in one_kind.data] == ["open: answer changed (wrong, or another text)"]
    both = tradeoff_plot(
        [_row("lazy", True, 0.0), _row("random", False, text="<b>x</b> " * 60)], "Strategies"
    )
    assert {t.marker.symbol for t in both.data} == {"circle", "circle-open"}
    assert min(both.data[0].y) == pytest.approx(1e-6)  # a KL of 0 on the log axis
    hover = both.data[1].customdata[0][0]
    assert hover.startswith("&lt;b&gt;x&lt;/b&gt;") and hover.endswith("…") and len(hover) < 200
    assert "%{customdata[0]}" in both.data[1].hovertemplate


def test_titles_start_at_the_top_and_the_mode_bar_and_tick_labels_leave_room():
    one, two = layout_of("One line"), layout_of("Two<br><sup>lines</sup>")
    assert (one.title.yref, one.title.yanchor, one.title.xanchor) == ("container", "top", "left")
    assert one.title.y == pytest.approx(1 - TITLE_ANCHOR[0] / 300)
    assert two.title.y == pytest.approx(1 - TITLE_ANCHOR[1] / 300)
    assert title_place(600)["y"] == pytest.approx(1 - TITLE_ANCHOR[0] / 600)
    assert one.xaxis.automargin is True and one.yaxis.automargin is True
    assert set(one.modebar.remove) == set(MODEBAR["remove"]) and "select2d" in one.modebar.remove


def layout_of(title: str):
    import plotly.graph_objects as go

    return layout(go.Figure(), title, height=300).layout


def test_the_table_has_a_column_for_each_value_of_a_row_with_the_runs_text():
    c = Comparison.from_dict(
        dict(baseline_text="4821", lazy_text="The key\nis 4821 " + "x" * 300, baseline_tokens=["4821"],
             lazy_tokens=["The"], baseline_ttft_s=1.0, lazy_ttft_s=0.5, baseline_total_s=2.0, lazy_total_s=1.5,
             baseline_step_s=[1.0, 1.0], lazy_step_s=[0.5, 1.0], compute_fraction=0.6,
             prompt_tokens_used_fraction=0.5, token_agreement=1.0, first_divergence=None, kl_per_step=[0.0],
             top1_per_step=[True])
    )  # fmt: skip
    base = views.table_row(table_row("baseline", None, True, text="4821"))
    row = views.table_row(table_row("lazy", c, True, True))
    assert len(base) == len(row) == len(TABLE_COLUMNS) and TABLE_COLUMNS[-1] == "text"
    assert base[-1] == "4821" and row[-1].startswith("The key is 4821") and len(row[-1]) == 160
