"""TensorRT backend (config.py: TrtConfig, backend.py: TrtBackend)."""
