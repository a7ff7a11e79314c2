"""onnxruntime backend (config.py: OnnxConfig, backend.py: OnnxBackend)."""
