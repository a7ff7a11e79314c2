"""backend=torch: config validation, numerics against onnxruntime fp32 on the embedded model, the
checkpoint formats (safetensors folders, the MLPerf reference's state dict), the mirror path of
the official checkpoint, torch.compile, and a real loadgen run through the CLI.

Tolerances (max abs difference of start/end logits, every position):
- fp32 vs onnxruntime fp32, SDPA vs eager, compiled vs eager: 1e-4 (float32 arithmetic, other
  kernels; REFERENCE §5 measured 5e-6);
- bf16 (weights cast, or autocast) vs onnxruntime fp32: 2 % of the largest fp32 logit plus 0.02
  (bf16 keeps 8 mantissa bits, ~0.4 % per op; measured here 0.044 weights and 0.031 autocast
  against a largest logit of 4.8, REFERENCE §5: 0.042 and 0.038), and the
  argmax over real tokens agrees for most rows.

Parity with onnxruntime is computed in a freshly spawned process (REFERENCE §7: in a process that
has exported or trained a model the comparison has shown spurious gaps).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.backends.base import Batch
from bert_sweep.backends.torch.config import TorchConfig
from bert_sweep.config.schema import AssetsConfig, ModelConfig
from bert_sweep.errors import AssetError, ConfigError
from bert_sweep.report.record import RunRecord
from tests.conftest import ROOT, SHARED_DATA

TINY = {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "intermediate_size": 128}


def _batch(n: int = 4, seq: int = 384, lengths=(384, 200, 90, 17), seed: int = 0) -> Batch:
    """Token ids in the vocab, a padded tail per row (one row full length), two segments."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 30000, (n, seq)).astype(np.int64)
    mask = np.zeros((n, seq), np.int64)
    seg = np.zeros((n, seq), np.int64)
    for row, length in enumerate(lengths[:n]):
        mask[row, :length] = 1
        seg[row, min(10, length) : length] = 1
    ids[mask == 0] = 0
    return Batch(ids, mask, seg)


def _trim(batch: Batch, width: int) -> Batch:
    return Batch(
        *(a[:, :width].copy() for a in (batch.input_ids, batch.input_mask, batch.segment_ids))
    )


def _torch_logits(
    checkpoint: str, batch: Batch, fields: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    from bert_sweep.backends.torch.backend import TorchBackend

    fields = fields or {}
    backend = TorchBackend(TorchConfig(threads=2, **fields))
    backend.load(Path(checkpoint))
    return backend.predict(batch)


def _parity(onnx_path: str, checkpoint: str, batch: Batch, configs: list[dict]) -> dict:
    """Child process: onnxruntime fp32 logits and the torch backend's under each config."""
    from bert_sweep.backends.onnx.backend import OnnxBackend
    from bert_sweep.backends.onnx.config import OnnxConfig

    onnx = OnnxBackend(OnnxConfig(intra_op_threads=2))
    onnx.load(Path(onnx_path))
    out = {"onnx": onnx.predict(batch)}
    for fields in configs:
        out[json.dumps(fields, sort_keys=True)] = _torch_logits(checkpoint, batch, fields)
    return out


def _fresh(fn, *args):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _max_diff(a, b) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


# -- config ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (["precision=fp16"], ["backend=torch precision=fp16 device=cpu", "fp32|bf16 on cpu"]),
        (["precision=int8", "device=cuda"], ["precision=int8 device=cuda", "fp32|bf16|fp16"]),
        (["device.index=1"], ["device.index=1", "0 on device=cpu", "backend.device_index"]),
        (["backend.device_index=2"], ["device.index=2", "device=cuda only"]),
        (["backend.attention=flash"], ["backend.attention='flash'", "['sdpa', 'eager']"]),
        (["backend.compile_mode=fast"], ["backend.compile_mode='fast'", "reduce-overhead"]),
        (["backend.bf16_mode=cast"], ["backend.bf16_mode='cast'", "['weights', 'autocast']"]),
        (["threads=-1"], ["threads=-1", ">= 0"]),
    ],
)
def test_bad_torch_config_is_one_line(compose, overrides, needles):
    with pytest.raises(ConfigError) as info:
        compose(["backend=torch", *overrides])
    text = str(info.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text


def test_knobs_reach_the_torch_config(compose):
    _, cfg = compose(["backend=torch", "precision=bf16", "threads=2", "batch=8"])
    c = cfg.backend
    assert (c.precision, c.threads, c.batch_size, c.device, c.device_index) == (
        "bf16",
        2,
        8,
        "cpu",
        0,
    )
    _, cfg = compose(["backend=torch", "device=cuda", "device.index=1", "precision=fp16"])
    assert (cfg.backend.device, cfg.backend.device_index) == ("cuda", 1)


def test_numerics_key_and_weight_transformations():
    base = TorchConfig()
    assert base.numerics_key() == {"backend": "torch", "precision": "fp32", "attention": "sdpa"}
    assert TorchConfig(attention="eager").numerics_key() != base.numerics_key()
    assert TorchConfig(compile=True).numerics_key()["compile"] == "default"
    bf16 = TorchConfig(precision="bf16")
    assert bf16.numerics_key()["bf16_mode"] == "weights"
    assert TorchConfig(precision="bf16", bf16_mode="autocast").numerics_key() != bf16.numerics_key()
    assert "bf16_mode" not in base.numerics_key()  # fp32 ignores it: one fp32 figure
    assert TorchConfig(bf16_mode="autocast").numerics_key() == base.numerics_key()
    assert base.weight_transformations({}) is None
    assert "bfloat16" in bf16.weight_transformations({})
    assert "autocast" in TorchConfig(precision="bf16", bf16_mode="autocast").weight_transformations(
        {}
    )
    assert TorchConfig.MODEL_FORMAT == "torch"


def test_help_does_not_import_torch():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['bert_sweep', '--help']\n"
        "try:\n    runpy.run_module('bert_sweep', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('TORCH', 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False False" in proc.stdout, proc.stdout[-500:]
    assert "torch" in proc.stdout.split("TORCH")[0]  # the backend is listed in --help


# -- numerics on the embedded model ------------------------------------------------------------
@pytest.fixture(scope="module")
def embedded_parity(embedded):
    batch = _batch()
    configs = [
        {},
        {"attention": "eager"},
        {"precision": "bf16"},
        {"precision": "bf16", "bf16_mode": "autocast"},
    ]
    out = _fresh(_parity, str(embedded.model_path), str(embedded.torch_dir), batch, configs)
    trimmed = _fresh(
        _parity, str(embedded.model_path), str(embedded.torch_dir), _trim(batch, 200), [{}]
    )
    return out, trimmed, batch


def test_fp32_matches_onnxruntime_on_the_embedded_model(embedded_parity):
    out, trimmed, _ = embedded_parity
    torch_fp32 = out["{}"]
    for got, want in zip(torch_fp32, out["onnx"], strict=True):
        assert got.shape == want.shape == (4, 384) and got.dtype == np.float32
    assert _max_diff(torch_fp32, out["onnx"]) <= 1e-4
    assert _max_diff(trimmed["{}"], trimmed["onnx"]) <= 1e-4  # a trimmed batch (width 200)
    # the unpadded rows of the trimmed batch are the same numbers as in the padded batch
    np.testing.assert_allclose(trimmed["{}"][0][1:, :200], torch_fp32[0][1:, :200], atol=1e-4)


def test_sdpa_and_eager_attention_agree(embedded_parity):
    out, _, _ = embedded_parity
    assert _max_diff(out['{"attention": "eager"}'], out["{}"]) <= 1e-4


@pytest.mark.parametrize(
    "key", ['{"precision": "bf16"}', '{"bf16_mode": "autocast", "precision": "bf16"}']
)
def test_bf16_within_its_tolerance_and_really_bf16(embedded_parity, key):
    out, _, batch = embedded_parity
    got, want = out[key], out["onnx"]
    scale = max(float(np.abs(w).max()) for w in want)
    diff = _max_diff(got, want)
    assert diff <= 0.02 * scale + 0.02, (diff, scale)
    assert diff > 1e-5  # bf16 arithmetic really ran: not the fp32 numbers
    real = batch.input_mask.astype(bool)
    agree = [
        (np.where(real, g, -1e9).argmax(1) == np.where(real, w, -1e9).argmax(1)).mean()
        for g, w in zip(got, want, strict=True)
    ]
    assert min(agree) >= 0.75


# -- checkpoints ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_model):
    """(onnx, torch checkpoint folder, cache): the tiny random model in both formats."""
    from bert_sweep.assets.random_model import build_random_checkpoint

    onnx, cache = tiny_model
    cfg = ModelConfig(name="tiny", source="random", **TINY)
    return onnx, build_random_checkpoint(cfg, cache, progress=False), cache


def test_random_checkpoint_has_the_onnx_weights_and_is_cached(tiny_checkpoint):
    onnx, folder, cache = tiny_checkpoint
    assert folder.parent == onnx.parent and folder.name.startswith(onnx.stem)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    from bert_sweep.assets.random_model import build_random_checkpoint

    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    again = build_random_checkpoint(ModelConfig(name="tiny", source="random", **TINY), cache)
    assert again == folder and (folder / "model.safetensors").stat().st_mtime_ns == mtime
    out = _fresh(_parity, str(onnx), str(folder), _batch(), [{}])
    assert _max_diff(out["{}"], out["onnx"]) <= 1e-4  # same seed, same weights


def test_resolve_random_model_for_torch_builds_no_onnx(tmp_path):
    from bert_sweep.assets.resolve import resolve_model

    cfg = ModelConfig(name="tiny", source="random", accuracy_meaningful=False, **TINY)
    model = resolve_model(
        cfg, AssetsConfig(cache_dir=str(tmp_path), progress=False), 8, model_format="torch"
    )
    assert model.path is None and model.checkpoint.is_dir()
    assert not list((tmp_path / "random").glob("*.onnx"))
    assert model.path_for("torch") == model.checkpoint
    assert len(model.digest_for("torch")) == 64
    with pytest.raises(AssetError, match="no onnx file"):
        model.path_for("onnx")


def _reference_state_dict(net) -> dict:
    """The key format of the reference's model.pytorch: BertForQuestionAnswering's state dict
    as older transformers wrote it (with a pooler and the position-id buffer)."""
    import torch

    state = dict(net.state_dict())
    hidden = net.config.hidden_size
    state["bert.pooler.dense.weight"] = torch.zeros(hidden, hidden)
    state["bert.pooler.dense.bias"] = torch.zeros(hidden)
    state["bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    return state


@pytest.fixture(scope="module")
def state_dict_file(tiny_checkpoint, tmp_path_factory):
    """(model.pytorch with config.json beside it, the module it came from)."""
    import torch

    from bert_sweep.backends.torch.checkpoint import load_qa_model

    _, folder, _ = tiny_checkpoint
    net = load_qa_model(folder)
    # weights unlike the random init, so a partial load would show; unique per session, so the
    # shared cache cannot hold an earlier session's accuracy for this very file
    noise = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=noise, dtype=p.dtype) * 0.02)
    out = tmp_path_factory.mktemp("statedict")
    torch.save(_reference_state_dict(net), out / "model.pytorch")
    shutil.copy(folder / "config.json", out / "config.json")
    return out / "model.pytorch", net


def test_reference_state_dict_loads_and_matches_its_model(state_dict_file):
    import torch

    from bert_sweep.backends.torch.backend import TorchBackend

    path, net = state_dict_file
    backend = TorchBackend(TorchConfig(threads=2))
    backend.load(backend.prepare(path, path.parent))
    batch = _batch(seq=128, lengths=(128, 60, 30, 5))
    start, end = backend.predict(batch)
    with torch.inference_mode():
        want = net(
            input_ids=torch.from_numpy(batch.input_ids),
            attention_mask=torch.from_numpy(batch.input_mask),
            token_type_ids=torch.from_numpy(batch.segment_ids),
        )
    np.testing.assert_allclose(start, want.start_logits.numpy(), atol=1e-5)
    np.testing.assert_allclose(end, want.end_logits.numpy(), atol=1e-5)
    assert backend.info().model_path == str(path)


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_bad_state_dicts_are_one_line_naming_the_file(state_dict_file, tmp_path):
    import torch

    from bert_sweep.backends.torch.checkpoint import load_qa_model

    path, _ = state_dict_file
    state = torch.load(path, weights_only=True)
    (tmp_path / "config.json").write_text((path.parent / "config.json").read_text())

    missing = tmp_path / "missing.pt"
    torch.save({k: v for k, v in state.items() if k != "qa_outputs.weight"}, missing)
    with pytest.raises(AssetError) as info:
        load_qa_model(missing)
    text = _one_line(info)
    assert str(missing) in text and "1 missing (e.g. qa_outputs.weight)" in text
    assert "reference's key format" in text

    renamed = tmp_path / "renamed.bin"
    torch.save({k.replace("bert.", "encoder."): v for k, v in state.items()}, renamed)
    with pytest.raises(AssetError) as info:
        load_qa_model(renamed)
    assert "unknown (e.g. encoder." in _one_line(info)

    garbage = tmp_path / "garbage.pytorch"
    garbage.write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(AssetError) as info:
        load_qa_model(garbage)
    assert _one_line(info).startswith(f"{garbage}: unreadable torch checkpoint")

    with pytest.raises(AssetError) as info:
        load_qa_model(tmp_path / "absent.pytorch")
    assert "torch checkpoint not found" in _one_line(info)

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(AssetError) as info:
        load_qa_model(folder)
    assert "lacks model.safetensors" in _one_line(info)


def test_a_state_dict_without_config_json_is_read_as_bert_large(state_dict_file, tmp_path):
    """No config.json beside the file: the reference's BERT-large config (packaged data)."""
    from bert_sweep.backends.torch.checkpoint import BERT_LARGE_CONFIG, load_qa_model

    config = json.loads(BERT_LARGE_CONFIG.read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        24,
        1024,
        30522,
    )
    path, _ = state_dict_file
    alone = tmp_path / "model.pytorch"
    shutil.copy(path, alone)
    with pytest.raises(AssetError) as info:
        load_qa_model(alone)
    text = _one_line(info)
    assert str(alone) in text and "bert_large_config.json" in text


def test_cli_torch_with_an_onnx_file_is_one_line(compose, tmp_path, tiny_model):
    from bert_sweep.assets.resolve import resolve_model

    _, cfg = compose(["backend=torch", "model=file", f"model.file={tiny_model[0]}"])
    with pytest.raises(AssetError) as info:
        resolve_model(cfg.model, cfg.assets, 8, model_format="torch")
    assert "backend=torch cannot read ONNX" in _one_line(info)
    _, cfg = compose(["backend=torch", "model=bert-large-int8"])
    with pytest.raises(AssetError) as info:
        resolve_model(cfg.model, cfg.assets, 8, model_format="torch")
    assert "model.torch_file" in _one_line(info)


# -- the official checkpoint: mirror and offline ---------------------------------------------------
def _bert_large(compose, tmp_path, *extra):
    _, cfg = compose(
        [
            "backend=torch",
            "model=bert-large",
            "assets.offline=true",
            "assets.progress=false",
            *extra,
        ]
    )
    return cfg


def test_bert_large_pytorch_catalog_entry(compose, tmp_path):
    from bert_sweep.assets.catalog import lookup

    remote = lookup("bert_large_pytorch")
    assert remote.name == "model.pytorch" and remote.md5 == "00fbcbfaebfa20d87ac9885120a6e9b4"
    assert remote.url == "https://zenodo.org/record/3733896/files/model.pytorch?download=1"
    assert _bert_large(compose, tmp_path).model.torch_file == "bert_large_pytorch"


def test_bert_large_pytorch_offline_is_one_line(compose, tmp_path):
    from bert_sweep.assets.resolve import resolve_model

    cfg = _bert_large(compose, tmp_path)
    with pytest.raises(AssetError) as info:
        resolve_model(cfg.model, cfg.assets, 8, model_format="torch", need_onnx=False)
    text = _one_line(info)
    assert text.startswith("model.pytorch: not in cache")
    assert "skipped (offline)" in text and "00fbcbfaebfa20d87ac9885120a6e9b4" in text


def test_bert_large_pytorch_mirror_md5_mismatch_is_refused(compose, tmp_path):
    """A small fake file under the official name: refused by md5, nothing left in the cache."""
    from bert_sweep.assets.resolve import resolve_model

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.pytorch").write_bytes(b"not the real checkpoint")
    cfg = _bert_large(compose, tmp_path, f"assets.mirror={mirror}")
    with pytest.raises(AssetError) as info:
        resolve_model(cfg.model, cfg.assets, 8, model_format="torch", need_onnx=False)
    text = _one_line(info)
    assert text.startswith(f"model.pytorch: mirror file {mirror / 'model.pytorch'} has md5")
    assert "expected 00fbcbfaebfa20d87ac9885120a6e9b4" in text
    assert not (tmp_path / "cache" / "downloads" / "model.pytorch").exists()


@pytest.mark.skipif(
    not (SHARED_DATA / "model.pytorch").is_file(),
    reason=f"needs the real MLPerf model.pytorch (1.3 GB) in {SHARED_DATA}",
)
def test_bert_large_pytorch_found_in_the_mirror(compose, tmp_path):
    from bert_sweep.assets.resolve import resolve_model

    cfg = _bert_large(compose, tmp_path, f"assets.mirror={SHARED_DATA}")
    model = resolve_model(cfg.model, cfg.assets, 8, model_format="torch", need_onnx=False)
    assert model.checkpoint == tmp_path / "cache" / "downloads" / "model.pytorch"
    assert model.path is None  # the official reference F1 applies: no ONNX download


# -- torch.compile ---------------------------------------------------------------------------------
def _compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


@pytest.mark.skipif(
    _compiler() is None, reason="torch.compile (inductor, CPU) needs a C++ compiler"
)
def test_compiled_tiny_model_matches_eager(tiny_checkpoint):
    _, folder, _ = tiny_checkpoint
    batch = _trim(_batch(), 64)
    eager = _torch_logits(str(folder), batch)
    compiled = _fresh(_torch_logits, str(folder), batch, {"compile": True})
    assert _max_diff(compiled, eager) <= 1e-4


# -- a real run (three CLI runs: ~65 s on 2 shared cores) ------------------------------------------
@pytest.mark.slow
def test_cli_run_with_accuracy_reuse_keyed_by_torch_numerics(run_cli, tmp_path, embedded):
    """backend=torch bf16 through the CLI, loadgen and the embedded model; accuracy measured,
    then reused for the same numerics, never for other ones (bf16_mode=autocast)."""
    import torch

    common = [
        "backend=torch",
        "precision=bf16",
        "profile=test",
        "profile.max_samples=48",
        "profile.min_query_count=32",
        "batch=8",
        "threads=2",
        "harness.trim_padding=true",
        "harness.sort_by_length=true",
        "tracking=none",
        "assets.progress=false",
    ]
    first = tmp_path / "first"
    proc = run_cli(*common, "reuse_accuracy=false", run_dir=first)
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    record = RunRecord.read(first)
    assert record.ok and record.backend == "torch" and record.precision == "bf16"
    assert record.backend_info["engine_version"] == torch.__version__
    assert record.backend_info["details"]["weights_dtype"] == "bfloat16"  # the loadgen process
    assert record.model_info.path == str(embedded.torch_dir)
    assert record.performance.samples_per_second > 0
    acc = record.accuracy
    assert not acc.reused and acc.f1 > 10  # a trained model: never BROKEN
    assert acc.numerics == {
        "backend": "torch",
        "precision": "bf16",
        "attention": "sdpa",
        "bf16_mode": "weights",
    }
    assert "onnxruntime" in acc.reference_source and acc.ratio > 0.9

    second = tmp_path / "second"
    proc = run_cli(*common, "profile.performance=false", run_dir=second)
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    again = RunRecord.read(second).accuracy
    assert again.reused and again.measured_in == str(first) and again.f1 == acc.f1

    third = tmp_path / "third"
    proc = run_cli(
        *common, "profile.performance=false", "backend.bf16_mode=autocast", run_dir=third
    )
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    other = RunRecord.read(third).accuracy
    assert other.numerics["bf16_mode"] == "autocast" and other.measured_in != str(first)


# -- the GPU benchmark script, run for real on the CPU --------------------------------------------
def test_gpu_benchmark_script_runs_tiny_on_cpu(tmp_path):
    """benchmarks/gpu_torch.py end to end (loadgen, the harness, the torch backend) with the tiny
    architecture on the CPU: what the GPU machine runs, at a size that fits a test."""
    out = tmp_path / "tiny.json"
    cmd = [sys.executable, "-m", "benchmarks.gpu_torch", "--device", "cpu", "--tiny"]
    cmd += ["--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--threads", "2"]
    real = (SHARED_DATA / "squad-v1.1-dev.json").is_file()
    if real:
        cmd += ["--mirror", str(SHARED_DATA)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["features"]["count"] == 256
    assert result["features"]["source"].startswith("SQuAD" if real else "synthetic")
    runs = result["runs"]
    assert [(r["precision"], r["batch"], r["trimmed_sorted"]) for r in runs] == [
        ("bf16", 8, True),
        ("bf16", 8, False),
    ]
    for run in runs:
        assert run["samples_per_second"] > 0 and run["weights_dtype"] == "bfloat16", run
        assert run["peak_gpu_memory_bytes"] is None  # cpu: no GPU figure
    assert (tmp_path / "cache" / "random").is_dir()


@pytest.mark.slow
def test_state_dict_without_onnx_is_judged_against_its_own_torch_fp32(
    run_cli, tmp_path, state_dict_file, shared_data
):
    """model=file with a reference-format state dict: no ONNX exists, so on a subset the fp32
    reference is the same checkpoint under torch fp32, measured once and labelled so."""
    path, _ = state_dict_file
    run_dir = tmp_path / "run"
    proc = run_cli(
        "backend=torch",
        "precision=bf16",
        "model=file",
        f"model.file={path}",
        "dataset=squad",
        f"assets.mirror={shared_data}",
        "profile.max_samples=32",
        "profile.min_query_count=16",
        "batch=8",
        "threads=2",
        "tracking=none",
        "assets.progress=false",
        run_dir=run_dir,
    )
    record = RunRecord.read(run_dir)
    assert proc.returncode == 3, proc.stderr[-2000:]  # random weights on SQuAD: FAIL, no crash
    assert record.ok and record.model_info.path == str(path)
    acc = record.accuracy
    assert acc.reference_source.startswith("its own fp32 torch F1 (no ONNX file): measured now")
    assert acc.reference_is_self
