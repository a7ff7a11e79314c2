"""DeepSparse backend (config.py: DeepsparseConfig, backend.py: DeepsparseBackend), run in its own
venv (env.py) through a worker process (engine.py, bert_sweep/isolation)."""
