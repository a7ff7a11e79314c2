"""The backend list is what the rest of the tool reads: names, targets (also the paths results.json
files were written with before backends became packages), packages, measurements texts."""

from __future__ import annotations

import pytest

from bert_sweep.backends import registry
from bert_sweep.backends.onnx.config import OnnxConfig
from bert_sweep.backends.openvino.config import OpenvinoConfig
from bert_sweep.backends.torch.config import TorchConfig
from bert_sweep.errors import ConfigError
from bert_sweep.report.system_info import framework, package_versions
from bert_sweep.submission.describe import default_measurements


def test_every_backend_is_listed_once_with_its_own_target():
    assert registry.names() == ["noop", "onnx", "trt", "openvino", "torch", "deepsparse"]
    for cls in registry.BACKENDS:
        assert registry.by_target(cls._target_) is cls
        module = cls._target_.rpartition(".")[0]
        assert module == f"bert_sweep.backends.{registry.backend_name(cls)}.backend"


def test_pre_registry_targets_still_resolve():
    """results.json written before: `bert_sweep.backends.onnx.OnnxBackend`."""
    old = {"_target_": "bert_sweep.backends.onnx.OnnxBackend", "name": "onnx", "batch_size": 8}
    config = registry.config_from_dict(old)
    assert isinstance(config, OnnxConfig) and config._target_ == OnnxConfig._target_
    assert config.batch_size == 8 and config.device == "cpu"


def test_unknown_targets_and_fields_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"^backend._target_='x.Y': not a registered backend"):
        registry.config_from_dict({"_target_": "x.Y"})
    with pytest.raises(ConfigError, match=r"^backend.bogus=1: expected a field of OnnxConfig"):
        registry.config_from_dict({"_target_": OnnxConfig._target_, "bogus": 1})
    with pytest.raises(ConfigError, match="expected a subclass"):
        registry.register_backend(dict)


def test_engine_packages_are_recorded_and_name_the_framework():
    versions = package_versions()
    assert {"onnxruntime", "openvino", "nncf"} <= set(versions)
    assert framework("openvino", versions, {}) == f"openvino {versions['openvino']}"
    assert framework("onnx", versions, {}) == f"onnxruntime {versions['onnxruntime']}"
    assert framework("noop", versions, {"engine_version": "n/a"}) == "noop"


@pytest.mark.parametrize(
    ("backend", "model", "expected"),
    [
        (
            OnnxConfig(precision="int8", quantization="dynamic"),
            {"source": "file"},
            "onnxruntime dynamic int8",
        ),
        (OnnxConfig(precision="int8"), {"source": "file"}, "onnxruntime static int8"),
        (OnnxConfig(precision="fp16"), {"source": "file"}, "onnxruntime float16"),
        (OnnxConfig(optimize=True), {"source": "file"}, "onnxruntime transformer optimizer"),
        (OnnxConfig(precision="int8"), {"source": "download", "file": "bert_large_int8"}, "none"),
        (OnnxConfig(), {"source": "file"}, "none"),
        (OpenvinoConfig(precision="int8"), {"source": "file"}, "NNCF post-training int8"),
        (OpenvinoConfig(precision="bf16"), {"source": "file"}, "OpenVINO bf16"),
        (
            OpenvinoConfig(precision="int8"),
            {"source": "embedded"},
            "fine-tuned on synthetic SQuAD-format data, exported to ONNX (opset 17); NNCF",
        ),
        (TorchConfig(), {"source": "file"}, "none"),
        (TorchConfig(precision="bf16"), {"source": "file"}, "weights cast to bfloat16"),
        (
            TorchConfig(precision="bf16", bf16_mode="autocast"),
            {"source": "embedded"},
            "fine-tuned on synthetic SQuAD-format data, saved as safetensors; fp32 weights",
        ),
    ],
)
def test_weight_transformations_come_from_the_backend(backend, model, expected):
    import dataclasses

    config = {"model": model, "backend": dataclasses.asdict(backend)}
    assert default_measurements(config)["weight_transformations"].startswith(expected)


def test_torch_backend_names_the_torch_checkpoint_as_starting_weights():
    import dataclasses

    model = {"source": "download", "file": "bert_large_fp32", "torch_file": "bert_large_pytorch"}
    torch = default_measurements({"model": model, "backend": dataclasses.asdict(TorchConfig())})
    assert torch["starting_weights_filename"].startswith("model.pytorch (zenodo.org/record/3733896")
    onnx = default_measurements({"model": model, "backend": dataclasses.asdict(OnnxConfig())})
    assert onnx["starting_weights_filename"].startswith("model.onnx")
