"""Hydra plugin shim for bert_sweep's Optuna sweeper (Hydra loads plugins from hydra_plugins)."""
