"""OpenVINO backend (config.py: OpenvinoConfig, backend.py: OpenvinoBackend)."""
