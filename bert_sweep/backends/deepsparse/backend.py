"""DeepSparse, driven from the project's side: refusals and the venv in `prepare`, the worker in
`load`.

The run's process never imports deepsparse (it cannot: numpy 2 here, < 2 there). `prepare`
refuses, with one line, the models deepsparse 1.8 cannot take (IR version 10+, onnxruntime's
dynamic-int8 ops, which abort it natively, external-data files) and creates the venv when it is
not there (env.py); `load`, in the loadgen process, starts the worker under the venv's python
(isolation/client.py), which runs engine.py.
"""

from __future__ import annotations

from pathlib import Path

from bert_sweep.backends.base import BackendInfo
from bert_sweep.backends.deepsparse import env as dsenv
from bert_sweep.backends.deepsparse.config import DeepsparseConfig
from bert_sweep.backends.signature import check_signature
from bert_sweep.errors import AssetError, BackendUnavailableError
from bert_sweep.isolation.backend import WorkerBackend
from bert_sweep.isolation.client import EngineWorker, WorkerError

ENGINE_FILE = Path(__file__).resolve().with_name("engine.py")
MAX_IR_VERSION = 9  # deepsparse 1.8 rejects IR 10 (torch's dynamo exporter writes it)
# onnxruntime's dynamic quantization (quantize_dynamic) and its fused contrib ops: deepsparse 1.8
# aborts the whole process (native assertion) on them
DYNAMIC_INT8_OPS = frozenset(
    {
        "DynamicQuantizeLinear",
        "MatMulInteger",
        "ConvInteger",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QAttention",
        "QEmbedLayerNormalization",
        "DynamicQuantizeLSTM",
    }
)


def check_model(model_path: Path) -> None:
    """AssetError (one line) for an ONNX file deepsparse 1.8 would reject or abort on."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    if model.ir_version > MAX_IR_VERSION:
        raise AssetError(
            f"{model_path}: ONNX IR version {model.ir_version}: backend=deepsparse expected IR "
            f"<= {MAX_IR_VERSION} (deepsparse 1.8 rejects IR 10+; export with torch.onnx.export("
            "dynamo=False, opset_version=17))"
        )
    ops = sorted({n.op_type for n in model.graph.node} & DYNAMIC_INT8_OPS)
    if ops:
        raise AssetError(
            f"{model_path}: onnxruntime dynamic-int8 ops ({', '.join(ops)}): backend=deepsparse "
            "expected an fp32 model (deepsparse 1.8 aborts on these)"
        )
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise AssetError(
            f"{model_path}: weights in external data files: backend=deepsparse expected a "
            "single-file ONNX model"
        )


class DeepsparseBackend(WorkerBackend):
    def __init__(self, config: DeepsparseConfig | None = None) -> None:
        super().__init__(config or DeepsparseConfig())
        self._model_path: Path | None = None

    def _options(self, model_path: Path) -> dict:
        c = self.config
        inputs, outputs = check_signature(model_path)
        return {
            "batch_size": c.batch_size,
            "num_cores": c.num_cores,
            "num_streams": c.num_streams,
            "scheduler": c.scheduler,
            "width_buckets": list(c.width_buckets),
            "precompile": c.precompile,
            "inputs": {actual: canonical for canonical, actual in inputs.items()},
            "outputs": outputs,
        }

    # -- run's process -------------------------------------------------------------------------
    def prepare(self, model_path: Path, cache_dir: Path, calibration=None) -> Path:
        model_path = Path(model_path)
        check_signature(model_path)
        check_model(model_path)
        dsenv.ensure_env(self.config.cache_dir or cache_dir, offline=self.config.offline)
        return model_path  # never compiled in place: the worker compiles private copies

    # -- loadgen process -----------------------------------------------------------------------
    def load(self, model_path: Path) -> None:
        self._model_path = Path(model_path)
        super().load(model_path)

    def _start_worker(self) -> EngineWorker:
        python, _ = dsenv.ready_env(self.config.cache_dir or None)
        env = python.parent.parent
        options = self._options(self._model_path)
        worker = EngineWorker(self.name, self.worker_log_path())
        try:
            worker.exec_engine(python, ENGINE_FILE, options)
        except (WorkerError, BackendUnavailableError) as exc:
            worker.close()
            raise BackendUnavailableError(
                f"backend=deepsparse: the environment {env} is broken ({exc}); rebuild it: "
                f"{dsenv.fix_hint(env)}"
            ) from None
        return worker

    def info(self) -> BackendInfo:
        data = self.worker_info()
        env = dsenv.env_dir(self.config.cache_dir or None)
        if data:
            info = BackendInfo(**data)
        else:
            marker = dsenv.read_marker(env) or {}
            c = self.config
            info = BackendInfo(
                name=self.name,
                precision=self.precision,
                engine_version=marker.get("versions", {}).get("deepsparse", "not installed"),
                model_path=self.model_path,
                details={
                    "num_cores": c.num_cores or "default",
                    "num_streams": c.num_streams or "default",
                    "scheduler": c.scheduler,
                    "width_buckets": list(c.width_buckets),
                },
            )
        info.details = dict(info.details) | {"env": str(env), "isolated": "own venv worker"}
        return info
