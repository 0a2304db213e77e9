"""Figures that only say something: empty, pending, or what went wrong."""

from __future__ import annotations

import functools
import html

import plotly.graph_objects as go

from app.plotting import layout


@functools.lru_cache(maxsize=256)
def _message(title: str, message: str, color: str = "#666", height: int = 200) -> go.Figure:
    """A figure with only a message, built once per text (a run marks eleven views pending; building
    each costs ~15 ms of plotly's validation). Shared: callers return it as a view, never change it."""
    fig = go.Figure()
    fig.add_annotation(text=html.escape(message)[:300], showarrow=False, font=dict(color=color))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return layout(fig, html.escape(title), height=height)


def error_figure(title: str, message: str) -> go.Figure:
    """A figure that says what went wrong, shown in place of a view whose function failed."""
    return _message(f"{title}: could not draw", message, color="#b00020")


def empty_figure(title: str, message: str = "Run a prompt or load a trace to see this view.") -> go.Figure:
    return _message(title, message)


def pending_figure(title: str) -> go.Figure:
    """Shown while a run is in progress, in place of a view it has not reached yet."""
    return _message(title, "Pending: this view fills in when the run gets there.", color="#0072B2")
