"""The one record of a run (`results.json`): typed, versioned, written by one writer.

Why a type rather than a dict: the record is read by tracking, the search, the grid table and the
submission stage. As a dict it was written in two places that disagreed (a failed run stored the
top-level `precision` knob, not `backend.precision`) and read with `.get` everywhere, so a renamed
or missing field turned silently into None. Here every field is declared once; reading a file
checks its schema version and its fields, and an older, newer or damaged file is refused with one
line naming the file (RecordError) instead of being half-understood.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bert_sweep.atomic import write_text_atomic
from bert_sweep.errors import AssetError

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 2

# Overall verdicts (Verdict.verdict).
PASS, FAIL, PERF_ONLY, ERROR = "PASS", "FAIL", "PERF-ONLY", "ERROR"
# Verdicts of one accuracy judgement (Judgement.verdict); BROKEN: an F1 no QA model produces.
BROKEN, NOT_JUDGED = "BROKEN", "N/A"


class RecordError(AssetError):
    """A results.json that is missing, unreadable, of another schema version, or malformed."""


# -- the record --------------------------------------------------------------------------------
@dataclass
class Accuracy:
    """The accuracy test as measured (or reused): figures, provenance, and the fp32 reference."""

    exact_match: float | None = None
    f1: float | None = None
    n_samples: int | None = None
    n_examples: int | None = None
    meaningful: bool = True  # False: perf-only model or a backend that does not run the model
    not_meaningful_reason: str | None = None
    reused: bool = False
    measured_in: str | None = None  # the run dir whose accuracy test produced these figures
    measured_at: str | None = None  # when (ISO local time); None for entries older than this field
    numerics: dict[str, Any] | None = None
    wall_s: float | None = None  # the accuracy test's loadgen wall time (where it was measured)
    reference_f1: float | None = None  # fp32 reference over the same samples
    reference_source: str | None = None  # where that reference came from, for people
    reference_is_self: bool = False  # the reference is the same model's own fp32 F1
    ratio: float | None = None  # f1 / reference_f1


@dataclass
class Performance:
    """The loadgen performance test."""

    result: float | None = None
    result_name: str | None = None
    result_unit: str | None = None
    samples_per_second: float | None = None  # the search objective, in every scenario
    validity: str | None = None  # VALID | INVALID
    invalid_reasons: list[str] = field(default_factory=list)
    latency_ns: dict[str, float] = field(default_factory=dict)
    samples_issued: int | None = None
    duration_s: float | None = None
    target_qps: float | None = None
    seeds: dict[str, Any] = field(default_factory=dict)
    loadgen_version: str | None = None
    errors: list[str] = field(default_factory=list)
    sut: dict[str, Any] = field(default_factory=dict)
    log_dir: str | None = None


@dataclass
class Judgement:
    """One accuracy judgement: F1 against one reference, PASS / FAIL / BROKEN / N/A."""

    name: str  # "own fp32" | "MLPerf"
    verdict: str
    reason: str
    reference_f1: float | None = None
    ratio: float | None = None
    required: float | None = None  # the target fraction (0.99 / 0.999)
    indicative: bool = False  # measured on a subset of the dataset the target is defined on


@dataclass
class Verdict:
    """The run's verdict and why. `feasible` is what the search constrains by (own fp32 ratio and
    a VALID run); `verdict` is what is printed (the MLPerf target where it applies)."""

    verdict: str  # PASS | FAIL | PERF-ONLY | ERROR
    accuracy: str = NOT_JUDGED  # the deciding judgement's verdict
    accuracy_reason: str = ""
    performance: str = NOT_JUDGED  # VALID | INVALID | N/A
    reasons: list[str] = field(default_factory=list)
    feasible: bool = False
    decided_by: str | None = None  # name of the judgement the printed verdict uses
    own: Judgement | None = None
    mlperf: Judgement | None = None
    broken_model: bool = False


@dataclass
class ModelInfo:
    path: str
    digest: str
    prepared_path: str | None = None
    meaningful: bool = True
    packageable: bool = True


@dataclass
class RunRecord:
    """One run (or one job of a sweep): what ran, every figure, the verdict, where it lives."""

    status: str  # ok | failed
    run_dir: str
    verdict: Verdict
    schema: int = SCHEMA_VERSION
    error: str | None = None
    error_kind: str | None = None
    model: str | None = None
    dataset: str | None = None
    backend: str | None = None
    precision: str | None = None
    device: str | None = None
    scenario: str | None = None
    profile: str | None = None
    batch_size: int | None = None
    target: float | None = None
    accuracy: Accuracy | None = None
    performance: Performance | None = None
    submission_ready: bool = False
    model_info: ModelInfo | None = None
    backend_info: dict[str, Any] | None = None
    n_samples: int | None = None
    dataset_path: str | None = None
    features_path: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    packages: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    config: dict[str, Any] | None = None  # the resolved RunConfig (None for a failed job)

    # -- what readers ask ----------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def passed(self) -> bool:
        return self.ok and self.verdict.verdict == PASS

    @property
    def perf_only(self) -> bool:
        return self.ok and self.verdict.verdict == PERF_ONLY

    @property
    def exit_ok(self) -> bool:
        """Nothing to report as a failure: PASS, or a performance-only run (not judged)."""
        return self.passed or self.perf_only

    @property
    def feasible(self) -> bool:
        return self.ok and self.verdict.feasible

    @property
    def samples_per_second(self) -> float | None:
        value = self.performance.samples_per_second if self.performance else None
        return _finite(value)

    # -- (de)serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = RESULTS_FILE) -> RunRecord:
        """The record from its dict form; RecordError naming `source` when it is not one."""
        if not isinstance(data, dict):
            raise RecordError(f"{source}: expected a JSON object (a bert_sweep run record)")
        found = data.get("schema")
        if found != SCHEMA_VERSION:
            age = "an older" if isinstance(found, int) and found < SCHEMA_VERSION else "another"
            raise RecordError(
                f"{source}: schema={found!r}: expected {SCHEMA_VERSION} (written by {age} "
                "bert_sweep; rerun that run)"
            )
        try:
            return _build(cls, data, "")
        except _Malformed as exc:
            raise RecordError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, path: Path) -> RunRecord:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecordError(
                f"{path}: not found (expected the {RESULTS_FILE} of a bert_sweep run)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise RecordError(f"{path}: unreadable {RESULTS_FILE} ({why})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecordError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord:
        return cls.from_json(Path(run_dir) / RESULTS_FILE)

    def write(self, run_dir: Path | None = None) -> Path:
        """The one writer: `<run_dir>/results.json`, atomically (never half a file)."""
        folder = Path(run_dir if run_dir is not None else self.run_dir)
        return write_text_atomic(folder / RESULTS_FILE, self.to_json())

    def flat(self) -> dict[str, Any]:
        """Dotted keys → scalars (str, int, float, bool, None); lists as JSON text. What tables
        and tracking read, so a figure has one name everywhere (`performance.samples_per_second`,
        `accuracy.f1`, `verdict.feasible`, ...). The resolved config is left out (it is params)."""
        data = self.to_dict()
        data.pop("config", None)
        return _flatten(data)

    # -- a job that did not finish -------------------------------------------------------------
    @classmethod
    def failure(cls, cfg: Any, run_dir: Path, kind: str, message: str) -> RunRecord:
        """The record of a job that failed, from its config as composed (it may not validate:
        every field is read on its own, and a value that cannot be read is left None)."""
        message = " ".join(str(message).split()) or kind
        return cls(
            status="failed",
            run_dir=str(run_dir),
            verdict=Verdict(verdict=ERROR, reasons=[message]),
            error=message,
            error_kind=kind,
            model=_text(_pick(cfg, "model.name")),
            dataset=_text(_pick(cfg, "dataset.name")),
            backend=_text(_pick(cfg, "backend.name")),
            precision=_text(_pick(cfg, "backend.precision", "precision")),
            device=_text(_pick(cfg, "device.name")),
            scenario=_text(_pick(cfg, "scenario.name")),
            profile=_text(_pick(cfg, "profile.name")),
            batch_size=_int(_pick(cfg, "backend.batch_size", "batch")),
            target=_number(_pick(cfg, "target")),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )


# -- helpers -----------------------------------------------------------------------------------
def _pick(cfg: Any, *paths: str) -> Any:
    """The first of `paths` that has a value in `cfg` (a DictConfig or a plain mapping)."""
    from omegaconf import DictConfig, OmegaConf

    if cfg is None:
        return None
    if not isinstance(cfg, DictConfig):
        try:
            cfg = OmegaConf.create(cfg)
        except Exception:
            return None
    for path in paths:
        try:
            value = OmegaConf.select(cfg, path, throw_on_resolution_failure=False)
        except Exception:  # a broken interpolation must not hide the job's own error
            value = None
        if value is not None and not OmegaConf.is_config(value):
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _finite(value: Any) -> float | None:
    value = _number(value)
    return value if value is not None and math.isfinite(value) else None


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, default=str)
        else:
            out[name] = value
    return out


class _Malformed(Exception):
    pass


_SCALARS: dict[type, tuple[type, ...]] = {
    str: (str,),
    bool: (bool,),
    int: (int,),
    float: (int, float),
}


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise _Malformed(f"{where or 'record'}: expected an object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise _Malformed(f"{where}{unknown[0]}: unknown field of {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _value(hints[f.name], data[f.name], f"{where}{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Malformed(f"{where}{f.name}: missing (expected in a {cls.__name__})")
    return cls(**kwargs)


def _value(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            if len(args) < len(typing.get_args(tp)):
                return None
            raise _Malformed(f"{where}=None: expected a value")
        return _value(args[0], value, where) if len(args) == 1 else value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{where}.")
    if origin is list:
        if not isinstance(value, list):
            raise _Malformed(f"{where}={value!r}: expected a list")
        (item,) = typing.get_args(tp) or (Any,)
        return [_value(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Malformed(f"{where}={value!r}: expected an object")
        return value
    allowed = _SCALARS.get(tp)
    if allowed is not None:
        if not isinstance(value, allowed) or (tp is not bool and isinstance(value, bool)):
            raise _Malformed(f"{where}={value!r}: expected {tp.__name__}")
        return float(value) if tp is float else value
    return value
