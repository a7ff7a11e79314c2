"""PyTorch backend (config.py: TorchConfig, backend.py: TorchBackend, checkpoint.py: loading)."""
