"""Inference engines behind one interface; each is imported only when its backend is chosen."""
