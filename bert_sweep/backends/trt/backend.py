"""TensorRT backend: an engine built from the ONNX model for the run's batch size, run on CUDA.

Why strongly typed networks: TensorRT 11 removed the weak-typing builder flags (FP16, INT8) and
10.x deprecated them, so precision is put in the model instead, which works on both:
- fp32: the model as given;
- fp16: the model converted to float16 with onnxruntime's converter (inputs/outputs kept as
  they are), cached like every prepared model;
- int8: explicit quantization only — the model must carry QuantizeLinear/DequantizeLinear
  nodes (e.g. model=bert-large-int8, the official fake-quant model).
The engine (one optimization profile: batch 1..batch_size, the model's sequence length) is
built once in the parent process and cached by a hash of everything it depends on; each loadgen
process deserializes it and runs it with torch CUDA tensors bound by name (enqueueV3).

TensorRT installs only from NVIDIA's index (`pip install tensorrt --extra-index-url
https://pypi.nvidia.com`); without it, or without a CUDA device, the backend raises
BackendUnavailableError naming what is missing, so a sweep records the job as failed and goes on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bert_sweep.assets.digest import digest_dir, sha256_file
from bert_sweep.atomic import write_bytes_atomic, write_json_atomic
from bert_sweep.backends.base import Backend, BackendInfo, Batch, import_engine
from bert_sweep.backends.signature import INPUT_ALIASES, OUTPUT_ALIASES
from bert_sweep.backends.trt.config import TrtConfig
from bert_sweep.errors import AssetError, BackendUnavailableError, ConfigError, field_error

INSTALL_HINT = "pip install 'tensorrt>=10' --extra-index-url https://pypi.nvidia.com"
PREPARE_FORMAT = 2  # bump when the engine recipe changes


def import_tensorrt():
    """The tensorrt module, or BackendUnavailableError with the install command."""
    return import_engine("tensorrt", "trt", INSTALL_HINT)


def _cuda_device(index: int):
    import torch

    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise BackendUnavailableError(
            f"backend=trt: no CUDA device {index} visible to torch {torch.__version__} "
            "(device=cuda needs an NVIDIA GPU and a CUDA build of torch)"
        )
    return torch.device("cuda", index)


def _has_qdq(model_path: Path) -> bool:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.node)


def _seq_length(model_path: Path, default: int) -> int | None:
    """The model's static sequence length, or None when that axis is dynamic."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    dim = graph.input[0].type.tensor_type.shape.dim
    return dim[1].dim_value if len(dim) > 1 and dim[1].dim_value > 0 else None


def to_fp16_onnx(model_path: Path, cache_dir: Path) -> Path:
    """float16 copy of an fp32 ONNX model (inputs/outputs unchanged), cached by the source's
    full sha256 and the converter's version and options."""
    import onnx
    import onnxruntime
    from onnxruntime.transformers.float16 import convert_float_to_float16

    recipe = {
        "format": PREPARE_FORMAT,
        "model_sha256": sha256_file(model_path, digest_dir(cache_dir)),
        "ort": onnxruntime.__version__,
        "convert": "float16",
        "keep_io_types": True,
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(cache_dir) / "prepared" / f"{Path(model_path).stem}-fp16-{key}.onnx"
    if not out.is_file():
        model = convert_float_to_float16(onnx.load(str(model_path)), keep_io_types=True)
        write_bytes_atomic(out, model.SerializeToString())
    return out


class TrtBackend(Backend):
    def __init__(self, config: TrtConfig | None = None) -> None:
        super().__init__(config or TrtConfig())
        c = self.config
        self.batch_size = c.batch_size
        self.device_name = c.device
        self.device_index = c.device_index
        self.workspace_gb = float(c.workspace_gb)
        self.level = c.builder_optimization_level
        self.seq_length = c.seq_length
        self.engine = self.context = None
        self.model_path = ""

    # -- parent process: build the engine ------------------------------------------------------
    def prepare(self, model_path: Path, cache_dir: Path, calibration=None) -> Path:
        trt = import_tensorrt()
        if self.device_name != "cuda":
            raise field_error("device", self.device_name, "cuda for backend=trt (NVIDIA GPUs)")
        device = _cuda_device(self.device_index)
        import torch

        model_path = Path(model_path)
        if not model_path.is_file():
            raise AssetError(f"{model_path}: model file not found")
        if self.precision == "int8" and not _has_qdq(model_path):
            raise ConfigError(
                f"precision=int8 with backend=trt: {model_path.name} has no Q/DQ nodes; "
                "expected an explicitly quantized model (e.g. model=bert-large-int8)"
            )
        source = to_fp16_onnx(model_path, cache_dir) if self.precision == "fp16" else model_path
        recipe = {
            "format": PREPARE_FORMAT,
            "model_sha256": sha256_file(source, digest_dir(cache_dir)),
            "trt": trt.__version__,
            "gpu": torch.cuda.get_device_name(device),
            "precision": self.precision,
            "batch": self.batch_size,
            "seq": self.seq_length,
            "level": self.level,
            "workspace_gb": self.workspace_gb,
        }
        key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        out = Path(cache_dir) / "prepared" / f"{model_path.stem}-trt-{self.precision}-{key}.plan"
        if not out.is_file():
            write_bytes_atomic(out, self._build(trt, source, device))
            write_json_atomic(out.with_suffix(".json"), recipe)
        return out

    def _build(self, trt, source: Path, device) -> bytes:
        import torch

        torch.cuda.set_device(device)
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(source)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise AssetError(f"{source}: TensorRT cannot parse it ({errors[:300]})")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(self.workspace_gb * 2**30))
        config.builder_optimization_level = self.level
        seq = _seq_length(source, self.seq_length) or self.seq_length
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            name = network.get_input(i).name
            profile.set_shape(name, (1, seq), (self.batch_size, seq), (self.batch_size, seq))
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise BackendUnavailableError(
                f"backend=trt: TensorRT {trt.__version__} could not build an engine for "
                f"batch {self.batch_size} (see its log above; out of GPU memory?)"
            )
        return bytes(plan)

    # -- loadgen process: run it ---------------------------------------------------------------
    def load(self, model_path: Path) -> None:
        trt = import_tensorrt()
        import torch

        self.device = _cuda_device(self.device_index)
        torch.cuda.set_device(self.device)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(model_path).read_bytes())
        if self.engine is None:
            raise AssetError(f"{model_path}: not a TensorRT engine for TensorRT {trt.__version__}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        self.inputs = {
            k: next((a for a in v if a in inputs), None) for k, v in INPUT_ALIASES.items()
        }
        self.outputs = {
            k: next((a for a in v if a in outputs), None) for k, v in OUTPUT_ALIASES.items()
        }
        if None in self.inputs.values() or None in self.outputs.values():
            raise AssetError(
                f"{model_path}: engine tensors {names} do not match the MLPerf BERT signature"
            )
        to_torch = {
            trt.int32: torch.int32,
            trt.int64: torch.int64,
            trt.float32: torch.float32,
            trt.float16: torch.float16,
        }
        self.dtypes = {n: to_torch[self.engine.get_tensor_dtype(n)] for n in names}
        self.stream = torch.cuda.Stream(self.device)
        self.model_path = str(model_path)
        self.trt_version = trt.__version__

    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        import torch

        arrays = {
            "input_ids": batch.input_ids,
            "input_mask": batch.input_mask,
            "segment_ids": batch.segment_ids,
        }
        keep = []  # device tensors must outlive the asynchronous execution
        with torch.cuda.stream(self.stream):
            for key, name in self.inputs.items():
                host = torch.from_numpy(np.ascontiguousarray(arrays[key]))
                dev = host.to(self.device, dtype=self.dtypes[name], non_blocking=False)
                self.context.set_input_shape(name, tuple(dev.shape))
                self.context.set_tensor_address(name, dev.data_ptr())
                keep.append(dev)
            results = {}
            for key, name in self.outputs.items():
                shape = tuple(self.context.get_tensor_shape(name))
                out = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
                self.context.set_tensor_address(name, out.data_ptr())
                results[key] = out
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
        self.stream.synchronize()
        start, end = (results[k].float().cpu().numpy() for k in ("start", "end"))
        return start, end

    def info(self) -> BackendInfo:
        return BackendInfo(
            name="trt",
            precision=self.precision,
            engine_version=getattr(self, "trt_version", "not loaded"),
            model_path=self.model_path,
            details={
                "device_index": self.device_index,
                "batch_size": self.batch_size,
                "builder_optimization_level": self.level,
                "workspace_gb": self.workspace_gb,
                "strongly_typed": True,
            },
        )

    def close(self) -> None:
        self.context = self.engine = None
