"""What several test files share, imported as ``tests.support.<module>`` (no test file imports another):

- ``models``: tiny random models of every supported family, built from `transformers` config classes;
- ``doubles``: a synthetic but consistent Trace and Comparison, for the figure and view tests;
- ``reference``: reference computations with the transformers model itself (equivalence tests);
- ``app_server``: `python app.py` launched on a free port, and a process's peak RSS;
- ``gradio_events``: calling the launched app's events the way the browser does.
"""
