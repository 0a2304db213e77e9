"""The name of every component of the page, and the groups of them that events read and write.

Callbacks return (or yield) {View: value}; the layout registers each component under its View and
`wiring.bind` maps the names back to components. A misspelt name is an AttributeError where it is
written (module-level groups: at import; `tests/app/test_viewnames.py` checks every `View.<NAME>` in
app/), and `ui.build_demo` raises if a View has no component. Values are the strings the names had
before (a View is a str: `out["status"]` and `out[View.STATUS]` are the same key).
"""

from __future__ import annotations

from enum import StrEnum


class View(StrEnum):
    """Every component the page registers: session state, inputs, buttons and views."""

    # session state
    VIEW = "view"  # the RunView's key (None: the recorded example shown at start)
    WALK_PAGE = "walk_page"
    TABLE_PROMPT = "table_prompt"  # the digest of the prompt the Strategies table was run on (None: empty)
    # the run panel
    EXAMPLE = "example"
    PROMPT = "prompt"
    EXPECTED = "expected"
    MODEL = "model"
    PRESET = "preset"
    STRATEGY = "strategy"
    PRESET_NOTE = "preset_note"
    SCHEDULE = "schedule"
    MAX_NEW = "max_new"
    RUN = "run"
    STOP = "stop"
    STATUS = "status"
    LINK_BUTTON = "link_button"  # makes a link to the inputs (app/links.py) …
    LINK = "link"  # … shown here (and copied by the browser)
    # the results panel
    STALE_NOTE = "stale_note"  # says when the results on screen are of another prompt than the panel's
    VERDICT = "verdict"
    SOURCE = "source"
    BASE_TEXT = "base_text"
    LAZY_TEXT = "lazy_text"
    METRICS = "metrics"
    JUMP = "jump"
    TIMING_PLOT = "timing_plot"
    FIDELITY_PLOT = "fidelity_plot"
    JUMP_TO = "jump_to"  # hidden: the step a click on the fidelity chart chose (assets/explorer.js)
    JUMP_GO = "jump_go"  # hidden: clicked by assets/explorer.js
    # the focus bar
    STEP = "step"
    FOCUS = "focus"
    CLEAR_FOCUS = "clear_focus"
    # Token survival
    SURVIVAL = "survival"
    PER_LAYER = "per_layer"
    # Importance
    IMPORTANCE = "importance"
    MODE = "mode"
    PROMPT_HTML = "prompt_html"
    TOP_TABLE = "top_table"
    # Layer scan
    SCAN_MD = "scan_md"
    SCAN_PLOT = "scan_plot"
    # Evidence: at the split (the baseline's attention), and the focus span
    EVIDENCE_TABS = "evidence_tabs"  # which of the two: at the split, or the focus span
    SPLIT_HTML = "split_html"
    SPLIT_PLOT = "split_plot"
    EVIDENCE_MD = "evidence_md"
    EVIDENCE_TABLE = "evidence_table"
    EVIDENCE_PLOT = "evidence_plot"
    # Aux Cache
    REVIVALS = "revivals"
    CUMULATIVE = "cumulative"
    CACHE_SIZES = "cache_sizes"
    REVIVED_TABLE = "revived_table"
    # Strategies
    COMPARE = "compare"
    SWEEP = "sweep"
    TABLE = "table"
    TABLE_PLOT = "table_plot"
    # Walkthrough
    BACK = "back"
    WALK_NAV = "walk_nav"
    NEXT = "next"
    WALK_MD = "walk_md"
    WALK_PLOT = "walk_plot"
    # Trace files
    RECORDED = "recorded"
    UPLOAD = "upload"
    DOWNLOAD = "download"
    API_TRACE_FILE = "api_trace_file"  # hidden: the /inspect_trace endpoint's input …
    API_TRACE_INFO = "api_trace_info"  # … and output


V = View
SUMMARY = (V.VERDICT, V.SOURCE, V.METRICS, V.TIMING_PLOT, V.FIDELITY_PLOT, V.BASE_TEXT, V.LAZY_TEXT, V.JUMP)
STEP_VIEWS = (
    V.SURVIVAL,
    V.PER_LAYER,
    V.IMPORTANCE,
    V.TOP_TABLE,
    V.PROMPT_HTML,
    V.EVIDENCE_TABLE,
    V.EVIDENCE_MD,
)
RUN_WIDE = (
    V.EVIDENCE_TABS,
    V.SPLIT_HTML,
    V.SPLIT_PLOT,
    V.EVIDENCE_PLOT,
    V.SCAN_PLOT,
    V.SCAN_MD,
    V.REVIVALS,
    V.REVIVED_TABLE,
    V.CACHE_SIZES,
    V.CUMULATIVE,
)
WALK = (V.WALK_MD, V.WALK_PLOT, V.WALK_NAV, V.WALK_PAGE, V.BACK, V.NEXT)
RUN_STATE = (V.VIEW, V.STALE_NOTE, V.STEP, V.STATUS, V.DOWNLOAD, V.RECORDED, V.EXAMPLE, V.EXPECTED)
VIEW_OUTPUTS = (*RUN_STATE, *SUMMARY, *STEP_VIEWS, *RUN_WIDE, *WALK)
TABLE_OUTPUTS = (V.TABLE, V.TABLE_PLOT, V.TABLE_PROMPT, V.STATUS, V.EXAMPLE, V.EXPECTED)
# RunRequest.parse's fields, then what else a run reads
RUN_FIELDS = (V.PROMPT, V.MODEL, V.PRESET, V.SCHEDULE, V.STRATEGY, V.MAX_NEW, V.EXPECTED)
RUN_INPUTS = (*RUN_FIELDS, V.EXAMPLE, V.FOCUS, V.MODE)
PANEL = (V.PROMPT, V.EXPECTED, V.PRESET, V.SCHEDULE, V.PRESET_NOTE)  # a preset's and a prompt's fields
INPUTS = (V.EXAMPLE, V.MODEL, *PANEL, V.STRATEGY, V.MAX_NEW)  # what an example, a trace or a link fills in
SCREEN = (V.STALE_NOTE, V.TABLE, V.TABLE_PLOT, V.TABLE_PROMPT)  # what says whether results are the prompt's
