"""The embedded default: cache mechanics (fast) and the built model itself (slow)."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bert_sweep.embedded.build import (
    METADATA_FILE,
    EmbeddedSpec,
    build_embedded,
    load_embedded,
)
from bert_sweep.errors import BertSweepError, ConfigError

# -- cache mechanics (fast) --------------------------------------------------------------------


def test_spec_key_is_stable_and_covers_every_field():
    spec = EmbeddedSpec()
    assert spec.key() == EmbeddedSpec().key()
    changed = [
        replace(spec, seed=1),
        replace(spec, epochs=spec.epochs * 2),
        replace(spec, lr=spec.lr / 2),
        replace(spec, train_articles=spec.train_articles + 1),
        replace(spec, dev_articles=spec.dev_articles + 1),
    ]
    keys = {s.key() for s in changed}
    assert len(keys) == len(changed) and spec.key() not in keys


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", 0), ("lr", 0.0), ("batch_size", 0), ("train_articles", 0), ("threads", 0)],
)
def test_bad_spec_raises_one_line_config_error(tmp_path, field, value):
    spec = replace(EmbeddedSpec(), **{field: value})
    with pytest.raises(ConfigError, match=f"embedded.{field}") as info:
        build_embedded(tmp_path, spec, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "embedded").exists()  # nothing built or locked


def test_spec_from_dict_rejects_unknown_fields():
    assert EmbeddedSpec.from_dict({"seed": 3}).seed == 3
    with pytest.raises(ConfigError, match="embedded"):
        EmbeddedSpec.from_dict({"sed": 3})


def test_load_embedded_ignores_missing_and_half_written_builds(tmp_path):
    spec = EmbeddedSpec()
    assert load_embedded(tmp_path, spec) is None
    # What a killed build leaves: a temporary sibling folder, never the final one.
    stale = tmp_path / "embedded" / f".{spec.key()}.tmp-dead"
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"partial")
    (stale / METADATA_FILE).write_text("{}")
    assert load_embedded(tmp_path, spec) is None


def test_stale_temp_folders_are_removed_unless_being_built(tmp_path):
    from bert_sweep.embedded.build import _remove_stale_builds
    from bert_sweep.locks import file_lock

    parent = tmp_path / "embedded"
    ours, idle, busy = (parent / f".{k}.tmp-x" for k in ("aaaa", "bbbb", "cccc"))
    for folder in (ours, idle, busy):
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"partial")
    with file_lock(parent / "cccc.lock"):  # another builder of spec cccc is at work
        _remove_stale_builds(parent / "aaaa")
    assert not ours.exists() and not idle.exists()
    assert busy.exists()


def test_unwritable_cache_dir_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BertSweepError, match="cache") as info:
        build_embedded(blocker / "cache", progress=False)
    assert "\n" not in str(info.value)


def test_load_embedded_reports_a_damaged_build(tmp_path):
    spec = EmbeddedSpec()
    folder = tmp_path / "embedded" / spec.key()
    folder.mkdir(parents=True)
    (folder / METADATA_FILE).write_text(json.dumps({"dev": {"f1": 90.0}}))
    with pytest.raises(BertSweepError, match=r"model\.onnx") as info:
        load_embedded(tmp_path, spec)
    assert "\n" not in str(info.value)


def _fake_build(cache: Path, record: tuple[str, ...] = ("md5", "sha256")) -> Path:
    """A complete-looking build folder whose metadata records the model's checksums."""
    folder = cache / "embedded" / EmbeddedSpec().key()
    folder.mkdir(parents=True)
    model = folder / "model.onnx"
    model.write_bytes(os.urandom(3 << 20))
    for name in ("dev.json", "train.json"):
        (folder / name).write_text("{}")
    data = model.read_bytes()
    sums = {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
    meta = {"dev": {"f1": 90.0}, "model": {"bytes": len(data)}}
    meta["model"] |= {k: sums[k] for k in record}
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    return model


@pytest.mark.parametrize("record", [("md5", "sha256"), ("md5",)])  # md5 only: older builds
def test_an_edited_embedded_model_of_the_same_size_is_refused(tmp_path, record):
    model = _fake_build(tmp_path, record)
    assert load_embedded(tmp_path).model_path == model  # intact: accepted
    before = model.stat()
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte mid-file: size and first/last MiB unchanged
    model.write_bytes(bytes(data))
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(BertSweepError) as info:
        load_embedded(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{model}: {record[-1]} ") and "differs from" in message
    assert f"delete {model.parent} to rebuild" in message and "\n" not in message


def test_export_prints_none_of_its_known_harmless_warnings(tmp_path):
    from bert_sweep.assets.random_model import build_random_model
    from bert_sweep.config.schema import ModelConfig

    cfg = ModelConfig(
        name="tiny",
        source="random",
        num_layers=1,
        hidden_size=32,
        num_heads=2,
        intermediate_size=64,
        accuracy_meaningful=False,
        packageable=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # would show every warning, even DeprecationWarning
        path = build_random_model(cfg, tmp_path, progress=False)
    assert path.is_file()
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


# -- a tiny real build: the whole pipeline, end to end (slow) ---------------------------------


@pytest.mark.slow
def test_tiny_build_end_to_end(tmp_path):
    spec = EmbeddedSpec(train_articles=6, dev_articles=2, epochs=0.1)
    assets = build_embedded(tmp_path, spec, progress=False)
    parent = tmp_path / "embedded"
    assert assets.folder == parent / spec.key()
    assert not list(parent.glob(".*.tmp-*"))  # temp folder renamed away
    meta = assets.metadata
    assert meta["spec"] == json.loads(json.dumps(spec.__dict__))
    assert meta["train"]["steps"] >= 1 and meta["dev"]["questions"] > 0
    assert 0.0 <= meta["dev"]["f1"] <= 100.0
    assert meta["parity"]["max_abs_diff"] < 1e-3
    # A second call finds the cache and returns the same files, untouched (not rebuilt).
    before = assets.model_path.stat()
    again = build_embedded(tmp_path, spec, progress=False)
    after = again.model_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.metadata == meta and again.model_path == assets.model_path
    assert meta["model"]["sha256"] == hashlib.sha256(assets.model_path.read_bytes()).hexdigest()
    assert load_embedded(tmp_path, spec).metadata == meta
    # Deterministic: a build of the same spec elsewhere gives byte-identical files.
    other = build_embedded(tmp_path / "again", spec, progress=False)
    assert other.metadata["model"]["md5"] == meta["model"]["md5"]
    assert other.metadata["files"] == meta["files"]


# -- the default build (slow: built once per cache, ~10 min on 2 cores) ------------------------


@pytest.mark.slow
def test_default_build_files_and_metadata(embedded):
    from bert_sweep.assets.vocab import md5sum

    meta = embedded.metadata
    for path in (embedded.model_path, embedded.dev_path, embedded.train_path):
        assert path.is_file() and path.parent == embedded.folder
    assert json.loads(embedded.metadata_path.read_text()) == meta
    assert meta["spec"] == EmbeddedSpec().__dict__
    assert meta["model"]["md5"] == md5sum(embedded.model_path)
    assert meta["files"]["dev_md5"] == md5sum(embedded.dev_path)
    assert 1000 <= meta["dev"]["questions"] <= 2000
    assert 18_000 <= meta["train"]["questions"] <= 30_000  # ~20k (19,909 at seed 0)
    assert {"torch", "onnxruntime", "transformers", "onnx"} <= set(meta["versions"])


@pytest.mark.slow
def test_default_build_reaches_the_f1_target(embedded):
    dev = embedded.metadata["dev"]
    assert dev["f1"] >= 80.0, dev
    assert dev["exact_match"] <= dev["f1"]
    assert embedded.reference_f1 == dev["f1"]


@pytest.mark.slow
def test_onnx_signature_names_dtypes_dynamic_axes(embedded):
    import onnx

    proto = onnx.load(str(embedded.model_path))
    assert proto.ir_version == 8
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {17}
    # Self-contained: no tensor keeps its data in an external file.
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)

    def io(values):
        return {
            v.name: (
                v.type.tensor_type.elem_type,
                [d.dim_param for d in v.type.tensor_type.shape.dim],
            )
            for v in values
        }

    inputs, outputs = io(proto.graph.input), io(proto.graph.output)
    assert list(inputs) == ["input_ids", "input_mask", "segment_ids"]
    assert list(outputs) == ["output_start_logits", "output_end_logits"]
    for dtype, dims in inputs.values():
        assert dtype == onnx.TensorProto.INT64 and dims == ["batch", "seq"]
    for dtype, dims in outputs.values():
        assert dtype == onnx.TensorProto.FLOAT and dims == ["batch", "seq"]


@pytest.mark.slow
def test_onnx_runs_at_any_batch_and_length(embedded):
    from bert_sweep.embedded.export import ort_session

    session = ort_session(embedded.model_path, threads=2)
    rng = np.random.default_rng(0)
    for batch, seq in ((1, 384), (3, 57), (5, 129)):
        ids = rng.integers(1000, 30000, size=(batch, seq), dtype=np.int64)
        ids[:, 0] = 101
        feeds = {
            "input_ids": ids,
            "input_mask": np.ones((batch, seq), np.int64),
            "segment_ids": np.zeros((batch, seq), np.int64),
        }
        start, end = session.run(None, feeds)
        assert start.shape == end.shape == (batch, seq)
        assert start.dtype == np.float32 and np.isfinite(start).all() and np.isfinite(end).all()


@pytest.mark.slow
def test_onnx_matches_torch_in_a_fresh_process(embedded):
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
    from bert_sweep.embedded.export import parity_in_fresh_process
    from bert_sweep.features.squad_features import convert_examples_to_features

    examples = load_squad(embedded.dev_path)[:40]
    features = convert_examples_to_features(
        examples, load_tokenizer(packaged_vocab()), progress=False
    )
    rows = np.argsort(features.lengths())[-6:]  # the longest, multi-window ones included
    arrays = {
        "input_ids": features.input_ids[rows],
        "input_mask": features.input_mask[rows],
        "segment_ids": features.segment_ids[rows],
    }
    result = parity_in_fresh_process(embedded.model_path, embedded.torch_dir, arrays)
    assert result["max_abs_diff"] < 1e-3, result
    assert result["argmax_agree"] == result["compared"], result


@pytest.mark.slow
def test_reference_f1_is_reproducible_from_the_files(embedded):
    """Recompute dev EM/F1 from model.onnx and dev.json with the project's evaluation path."""
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer, packaged_vocab
    from bert_sweep.embedded.export import ort_session, run_onnx
    from bert_sweep.evaluation.postprocess import predictions_from_logits
    from bert_sweep.evaluation.squad_metrics import evaluate
    from bert_sweep.features.squad_features import convert_examples_to_features

    tokenizer = load_tokenizer(packaged_vocab())
    examples = load_squad(Path(embedded.dev_path))
    features = convert_examples_to_features(examples, tokenizer, progress=False)
    session = ort_session(embedded.model_path, threads=2)
    start, end = run_onnx(session, features.input_ids, features.input_mask, features.segment_ids)
    score = evaluate(examples, predictions_from_logits(examples, features, start, end, tokenizer))
    assert score["f1"] == pytest.approx(embedded.metadata["dev"]["f1"], abs=0.05)
    assert score["exact_match"] == pytest.approx(embedded.metadata["dev"]["exact_match"], abs=0.05)
