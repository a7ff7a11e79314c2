"""Accuracy-constrained search: grid sweep summaries and an Optuna sweeper for Hydra.

`python -m bert_sweep -m backend=onnx,noop batch=32,64` (Hydra's own grid) ends with a table of
every job (search.grid). `python -m bert_sweep -m +search=cpu_onnx` runs the project's Optuna
sweeper (search.sweeper; Hydra finds it as `hydra/sweeper=bert_optuna` through the thin plugin in
hydra_plugins/bert_sweep_search): maximize samples/s subject to accuracy >= target x reference F1.
Importing this package is cheap: Optuna and matplotlib are imported where they are used.
"""
