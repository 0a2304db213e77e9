"""The explorer's prose: the introduction and the notes above each tab (Markdown).

Texts that quote a run's numbers are written where the numbers are (app/walkthrough.py, app/markup.py);
these are fixed.
"""

TITLE = "LazyLLM Explorer"

INTRO = """# LazyLLM Explorer
**LazyLLM** (Fu et al., 2024, [arXiv 2407.14057](https://arxiv.org/abs/2407.14057)) speeds up the
*prefill* of long prompts by computing, at every layer and every step, only the tokens that matter for
the next token, and by letting later steps bring back tokens that earlier steps skipped (the *Aux
Cache*). Pick an example or paste a prompt and press **Run**: LazyLLM and the unpruned baseline run on
the same prompt, and every view below shows what LazyLLM did and what it changed. New here? Open the
**Walkthrough** tab."""

STRATEGY_NOTE = (
    "**lazy**: the paper's method, re-chosen at every step. **static**: the paper's baseline that prunes "
    "once at prefill, ranked by the first pruning layer's attention, and never brings a token back. "
    "**random**: the same number of tokens dropped at random (seeded)."
)

READY = "Ready: a recorded example is on screen. The model loads on the first run."

SURVIVAL_NOTE = (
    "Each cell is one (layer, token) at the chosen step; reading up a column: how far a token got. At "
    "decode steps most tokens reuse their KV from earlier steps; orange cells were **revived** from the "
    "Aux Cache. *Pruned after layer l* = not computed from layer l+1 on. Hover a cell for the token."
)

IMPORTANCE_NOTE = (
    "Importance = attention from the step's last token, averaged over heads (§3.2). The first token "
    "usually takes most of it: an **attention sink**, where models park attention no other token needs."
)

SCAN_NOTE = (
    "One prefill without pruning scores every layer: where does the focus span rank in the last token's "
    "attention, layer by layer? Pruning before the span is safely inside the keep fraction can lose it."
)

SPLIT_NOTE = (
    "Where the texts part (the first divergence step), both runs had the same context. The table lists "
    "the prompt tokens the **baseline's** last token attended to most there (its own, unpruned attention, "
    "averaged over heads), and what LazyLLM did with each at that step. It needs no expected answer."
)

AUX_NOTE = (
    "A token pruned after layer *l* leaves its hidden state in the Aux Cache **of layer l**; a later step "
    "that needs it again revives it **at layer l+1** (so cache rows and revival rows are one layer apart). "
    "At layer l+1 a revived token is computed like a new one: its query attends, causally by its original "
    "position, to the tokens selected at that layer in this step. A revival counts once (at the layer it "
    "re-enters); its token-layers count once per layer computed for it."
)

STRATEGIES_NOTE = (
    "The paper's Table 1 on your prompt: **lazy**, **static** and **random** at the same schedule (the same "
    "budget), or LazyLLM at several keep fractions. One baseline serves every row (cached while only the "
    "schedule or the strategy changes). KL is teacher-forced (LazyLLM fed the baseline's tokens)."
)

FILES_NOTE = (
    "Explore a trace without running a model: pick a recorded example or upload a trace JSON (exported "
    "here, or `res.trace.to_json()` from the `lazyllm` API). Download saves the run on screen."
)
