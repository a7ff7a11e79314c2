"""Torch checkpoints of a BERT QA model: what they look like on disk, and loading them strictly.

Two layouts:
- a folder with `config.json` + `model.safetensors` (what the embedded build and the random
  perf models write, and what `save_pretrained` writes);
- a bare state dict saved by `torch.save` (`.pytorch`, `.pt`, `.bin`) in the key format of
  transformers' BertForQuestionAnswering: the MLPerf reference's `model.pytorch`
  (language/bert/pytorch_SUT.py builds BertForQuestionAnswering from bert_config.json and calls
  `load_state_dict` on it). Its config is a `config.json` beside the file, else BERT-large's
  (bert_large_config.json in this package: the values of the reference's bert_config.json).

Why loading is strict (every parameter present, shapes equal, nothing unknown): a partial load
leaves randomly initialised layers that run at full speed and score nonsense. The only keys
skipped are ones older transformers versions wrote that the current model has no use for: the
pooler (BertForQuestionAnswering no longer builds one), the position/token-type id buffers, and
`classifier.*`, the alias of `qa_outputs` the reference's TF-to-PyTorch converter registers.

Path checks here import nothing heavy (model resolution runs in processes that never load torch).
"""

from __future__ import annotations

import json
from pathlib import Path

from bert_sweep.errors import AssetError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
STATE_DICT_SUFFIXES = (".pytorch", ".pt", ".bin")
BERT_LARGE_CONFIG = Path(__file__).with_name("bert_large_config.json")
IGNORED_PREFIXES = ("bert.pooler.", "classifier.")
IGNORED_KEYS = ("bert.embeddings.position_ids", "bert.embeddings.token_type_ids")
EXPECTED = (
    f"a folder with {CONFIG_FILE} + {WEIGHTS_FILE}, or a BertForQuestionAnswering state dict "
    f"({'|'.join(STATE_DICT_SUFFIXES)})"
)


def checkpoint_files(path: Path) -> tuple[Path, Path]:
    """(weights file, config file) of a checkpoint, or AssetError naming what is missing."""
    path = Path(path)
    if path.is_dir():
        weights, config = path / WEIGHTS_FILE, path / CONFIG_FILE
        for needed in (config, weights):
            if not needed.is_file():
                raise AssetError(
                    f"{path}: torch checkpoint folder lacks {needed.name}; expected {EXPECTED}"
                )
        return weights, config
    if not path.is_file():
        raise AssetError(f"{path}: torch checkpoint not found; expected {EXPECTED}")
    if path.suffix not in STATE_DICT_SUFFIXES:
        raise AssetError(f"{path}: not a torch checkpoint; expected {EXPECTED}")
    beside = path.with_name(CONFIG_FILE)
    return path, beside if beside.is_file() else BERT_LARGE_CONFIG


def read_config(config_path: Path, attention: str):
    """A BertConfig from a JSON file, with the attention implementation set."""
    from transformers import BertConfig

    try:
        values = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssetError(f"{config_path}: unreadable BERT config ({exc})") from None
    if not isinstance(values, dict):
        raise AssetError(f"{config_path}: expected a JSON object of BertConfig fields")
    for drop in ("attn_implementation", "_attn_implementation", "dtype", "torch_dtype"):
        values.pop(drop, None)
    return BertConfig(**values, attn_implementation=attention)


def read_state_dict(weights: Path) -> dict:
    """The tensors of a checkpoint file (safetensors or torch.save), on the CPU."""
    weights = Path(weights)
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights), device="cpu")
        else:
            import torch

            state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many unrelated types for bad files
        first = " ".join(str(exc).split())[:160]
        raise AssetError(f"{weights}: unreadable torch checkpoint ({first})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise AssetError(f"{weights}: expected a state dict of tensors, got {type(state).__name__}")
    if all(k.startswith("module.") for k in state):  # saved from a DataParallel wrapper
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_qa_model(path: Path, attention: str = "sdpa"):
    """BertForQuestionAnswering (fp32, eval mode, CPU) with every weight from the checkpoint."""
    from transformers import BertForQuestionAnswering

    weights, config_path = checkpoint_files(path)
    config = read_config(config_path, attention)
    state = read_state_dict(weights)
    model = BertForQuestionAnswering(config)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unknown = [
        k
        for k in state
        if k not in expected and k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES)
    ]
    if missing or unknown:
        what = []
        if missing:
            what.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unknown:
            what.append(f"{len(unknown)} unknown (e.g. {unknown[0]})")
        raise AssetError(
            f"{weights}: keys do not fit BertForQuestionAnswering ({', '.join(what)}); expected "
            f"the MLPerf reference's key format (bert.embeddings.word_embeddings.weight, ..., "
            f"qa_outputs.weight) for the config {config_path}"
        )
    for key, tensor in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(tensor.shape):
            raise AssetError(
                f"{weights}: {key} has shape {list(got.shape)}, expected {list(tensor.shape)} "
                f"for the config {config_path} (a config.json beside the file sets another one)"
            )
    model.load_state_dict({k: state[k] for k in expected}, strict=True)
    return model.float().eval()
