"""The evaluation harness, beside the runtime: the paper's accuracy / TTFT trade-off, measured.

Commands (registered by ``commands.add_subcommands``): ``bench`` and ``tune`` (accuracy vs TTFT
speedup of strategies over tasks; paper Table 1, Fig. 5), ``bench-speed`` (wall-clock ratios) and
``verify`` (pruning off vs the transformers forward).

Modules: ``tasks`` (built-in tasks), ``metrics`` and ``longbench`` (LongBench data and scoring, §5.1),
``models`` (the model a command runs), ``plan`` (which configs run), ``run`` (running and comparing
with ``lazyllm.compare``), ``summary`` (rows, Pareto front, the accuracy-first objective), ``search``
(tune's screened search over the dev examples), ``report`` (tables, files,
figure; plotly, the ``[eval]`` extra, only there), ``commands``, ``speed``, ``verify``.
"""
