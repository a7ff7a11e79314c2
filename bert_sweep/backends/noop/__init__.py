"""noop backend: no compute (config.py: NoopConfig, backend.py: NoopBackend)."""
