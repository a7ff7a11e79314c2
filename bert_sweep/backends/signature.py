"""The MLPerf BERT signature of an ONNX file: input/output names (and the official int8 model's
aliases), checked before any engine loads it. Shared by every engine that reads ONNX."""

from __future__ import annotations

from pathlib import Path

from bert_sweep.errors import AssetError

# Canonical MLPerf input names, and the names the official int8 model uses for the same tensors.
INPUT_ALIASES = {
    "input_ids": ("input_ids",),
    "input_mask": ("input_mask", "attention_mask"),
    "segment_ids": ("segment_ids", "token_type_ids"),
}
OUTPUT_ALIASES = {
    "start": ("output_start_logits", "start_logits"),
    "end": ("output_end_logits", "end_logits"),
}


def _resolve_names(available: list[str], aliases: dict, kind: str, path: Path) -> dict[str, str]:
    resolved = {}
    for canonical, names in aliases.items():
        match = next((n for n in names if n in available), None)
        if match is None:
            wanted = ", ".join(" or ".join(v) for v in aliases.values())
            raise AssetError(
                f"{path}: ONNX {kind} {sorted(available)} do not match the MLPerf BERT "
                f"signature (expected {wanted})"
            )
        resolved[canonical] = match
    return resolved


def check_signature(model_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Validate an ONNX file's graph inputs/outputs; returns (input map, output map)."""
    import onnx

    model_path = Path(model_path)
    if not model_path.is_file():
        raise AssetError(f"{model_path}: model file not found")
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError/ValueError/etc. for corrupt files
        raise AssetError(
            f"{model_path}: not a readable ONNX model ({type(exc).__name__})"
        ) from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    outputs = [o.name for o in model.graph.output]
    return (
        _resolve_names(inputs, INPUT_ALIASES, "inputs", model_path),
        _resolve_names(outputs, OUTPUT_ALIASES, "outputs", model_path),
    )
