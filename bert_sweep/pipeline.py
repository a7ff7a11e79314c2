"""One run, stage by stage: assets → features → backend → loadgen tests → evaluation → report.

Each loadgen test runs in a fresh process (harness.runner); this module only orchestrates and
records. Accuracy is reused across runs with the same numerics (evaluation.reuse) unless
`reuse_accuracy=false`.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from pathlib import Path

from bert_sweep.config.schema import RunConfig
from bert_sweep.evaluation.reuse import FP32_REFERENCE, AccuracyStore, accuracy_key
from bert_sweep.report.record import Accuracy, ModelInfo, Performance, RunRecord
from bert_sweep.report.verdict import decide, submission_ready


class PhaseTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


def loadgen_settings(cfg: RunConfig, n_samples: int) -> dict:
    """user.conf settings (before the optional warm-up sets target_qps) from the config."""
    p, s = cfg.profile, cfg.scenario
    perf_count = p.performance_sample_count
    if perf_count is None and n_samples < 10833:
        perf_count = n_samples  # mlperf.conf's 10,833 cannot exceed the QSL
    return {
        "min_duration": p.min_duration_ms,
        "min_query_count": p.min_query_count,
        "max_query_count": p.max_query_count,
        "performance_sample_count_override": perf_count,
        "target_qps": s.target_qps,
        "target_latency": s.target_latency_ms,
        "samples_per_query": s.samples_per_query,
    }


def backend_dict(cfg: RunConfig) -> dict:
    """The backend's config as a plain dict (with `_target_`), e.g. for results.json."""
    return dataclasses.asdict(cfg.backend)


def build_backend(config):
    """The implementation named by a backend config's `_target_`, built from that config."""
    from bert_sweep.harness.runner import make_backend

    return make_backend(config)


class Pipeline:
    def __init__(self, cfg: RunConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.cache_dir = Path(cfg.assets.cache_dir)
        self.timer = PhaseTimer()

    @property
    def model_format(self) -> str:
        """What the backend reads: "onnx" or "torch" (its config's MODEL_FORMAT)."""
        return self.cfg.backend.MODEL_FORMAT

    def _needs_onnx_reference(self) -> bool:
        """Whether a torch-format run may have to measure the fp32 onnxruntime reference: it
        judges accuracy and the official reference F1 does not cover its samples."""
        m, p = self.cfg.model, self.cfg.profile
        official = m.reference_f1 is not None and p.max_samples is None
        return p.accuracy and m.accuracy_meaningful and not official

    # -- stages ------------------------------------------------------------------------------
    def _assets(self):
        from bert_sweep.assets.resolve import resolve_dataset, resolve_model, resolve_vocab

        with self.timer("assets"):
            self.model = resolve_model(
                self.cfg.model,
                self.cfg.assets,
                batch_size=self.cfg.backend.batch_size,
                model_format=self.model_format,
                need_onnx=self._needs_onnx_reference(),
            )
            self.dataset_path = resolve_dataset(self.cfg.dataset, self.cfg.assets)
            self.vocab_path = resolve_vocab(self.cfg.assets)

    def _features(self):
        from bert_sweep.assets.vocab import md5sum
        from bert_sweep.features.squad_features import load_or_build_features

        with self.timer("features"):
            self.features, self.examples, self.features_path = load_or_build_features(
                self.dataset_path,
                self.vocab_path,
                self.cache_dir,
                progress=self.cfg.assets.progress,
            )
            self.dataset_digest = md5sum(self.dataset_path)
        total = len(self.features)
        limit = self.cfg.profile.max_samples
        self.n_samples = total if limit is None else min(total, limit)
        self.rows = None if self.n_samples == total else list(range(self.n_samples))

    def _backend(self):
        from bert_sweep.backends.base import Calibration

        calibration = Calibration(
            str(self.features_path),
            len(self.features),
            self.n_samples,
            examples=tuple(self.examples),
            vocab_path=str(self.vocab_path),
        )
        with self.timer("prepare"):
            self.backend = build_backend(self.cfg.backend)
            self.prepared_path = self.backend.prepare(
                self.model.path_for(self.model_format), self.cache_dir, calibration
            )

    def _spec(self, mode: str, out: str, backend, model_path: Path, **extra):
        from bert_sweep.harness.spec import TestSpec

        h = self.cfg.harness
        return TestSpec(
            mode=mode,
            scenario=self.cfg.scenario.name,
            output_dir=str(self.run_dir / out),
            features_path=str(self.features_path),
            backend=backend,
            model_path=str(model_path),
            batch_size=self.cfg.backend.batch_size,
            workers=h.workers,
            batch_timeout_ms=h.batch_timeout_ms,
            trim_padding=h.trim_padding,
            sort_by_length=h.sort_by_length,
            sample_rows=self.rows,
            settings=loadgen_settings(self.cfg, self.n_samples),
            auto_target=self._auto_target(),
            target_factor=self.cfg.scenario.qps_factor,
            warmup_batches=self.cfg.profile.warmup_batches,
            **extra,
        )

    def _auto_target(self) -> bool:
        """Measure the rate by a warm-up unless the scenario's target is given in config.

        Also for accuracy tests: Server issues accuracy queries at target_qps too, and a
        default that is far too low turns a seconds-long test into minutes."""
        s = self.cfg.scenario
        given = s.target_qps if s.name in ("Offline", "Server") else s.target_latency_ms
        return given is None

    def _measure_accuracy(self, out: str, backend, model_path: Path) -> dict:
        """Run and score one accuracy test; the dict is what the reuse store keeps."""
        from bert_sweep.assets.vocab import load_tokenizer
        from bert_sweep.evaluation.accuracy_log import score_accuracy_log
        from bert_sweep.harness.runner import run_test

        outcome = run_test(self._spec("accuracy", out, backend, model_path))
        scored = score_accuracy_log(
            Path(outcome.accuracy_log_path),
            self.examples,
            self.features,
            load_tokenizer(self.vocab_path),
            sample_rows=self.rows,
        )
        return {
            "exact_match": scored.exact_match,
            "f1": scored.f1,
            "n_samples": scored.n_samples,
            "n_examples": scored.n_examples,
            "run_dir": str(self.run_dir),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "log_dir": outcome.output_dir,
            "wall_s": round(outcome.wall_s, 3),
        }

    def _accuracy(self) -> Accuracy:
        store = AccuracyStore(self.cache_dir)
        numerics = self.cfg.backend.numerics_key()
        digest = self.model.digest_for(self.model_format)
        key = accuracy_key(digest, self.dataset_digest, self.n_samples, numerics)
        entry = store.get(key) if self.cfg.reuse_accuracy else None
        reused = entry is not None
        with self.timer("accuracy"):
            if entry is None:
                entry = self._measure_accuracy("accuracy", self.cfg.backend, self.prepared_path)
                store.put(key, entry | {"numerics": numerics})
        acc = Accuracy(
            exact_match=entry["exact_match"],
            f1=entry["f1"],
            n_samples=entry["n_samples"],
            n_examples=entry["n_examples"],
            reused=reused,
            measured_in=entry.get("run_dir"),
            measured_at=entry.get("measured_at"),
            numerics=numerics,
            wall_s=entry.get("wall_s"),
        )
        if not self.cfg.backend.COMPUTES_MODEL:
            acc.meaningful = False
            acc.not_meaningful_reason = "the backend does not run the model"
            return acc
        if self.model.path is None:  # a torch checkpoint with no ONNX: torch fp32 instead
            acc.reference_f1, acc.reference_source, acc.reference_is_self = self._torch_reference(
                store, numerics, acc
            )
            acc.ratio = acc.f1 / acc.reference_f1 if acc.reference_f1 else None
            return acc
        ref_key = accuracy_key(
            self.model.digest, self.dataset_digest, self.n_samples, FP32_REFERENCE
        )
        acc.reference_f1, acc.reference_source, acc.reference_is_self = self._reference(
            store, ref_key, numerics, acc
        )
        acc.ratio = acc.f1 / acc.reference_f1 if acc.reference_f1 else None
        return acc

    def _reference(
        self, store, ref_key: str, numerics: dict, own: Accuracy
    ) -> tuple[float, str, bool]:
        """fp32 reference F1 over the same samples, where it came from, and whether it is the
        same model's own fp32 F1: the official figure for the whole dataset, else the fp32
        onnxruntime accuracy of the same model (measured once, cached)."""
        if self.rows is None and self.cfg.model.reference_f1 is not None:
            return (
                float(self.cfg.model.reference_f1),
                "official fp32 F1 (model.reference_f1)",
                False,
            )
        if numerics == FP32_REFERENCE:
            where = _provenance(own.measured_in, own.measured_at) if own.reused else "this run"
            return own.f1, f"its own fp32 onnxruntime F1: {where}", True
        ref = store.get(ref_key)
        if ref is None:
            with self.timer("reference"):
                from bert_sweep.backends.onnx.config import OnnxConfig

                backend = OnnxConfig(
                    batch_size=self.cfg.backend.batch_size,
                    device=self.cfg.device.name,
                    providers=list(self.cfg.device.providers),
                )
                ref = self._measure_accuracy("reference", backend, self.model.path)
                store.put(ref_key, ref | {"numerics": FP32_REFERENCE})
            return ref["f1"], "its own fp32 onnxruntime F1: measured now, same samples", True
        where = _provenance(ref.get("run_dir"), ref.get("measured_at"))
        return ref["f1"], f"its own fp32 onnxruntime F1: {where}, same samples", True

    def _torch_reference(self, store, numerics: dict, own: Accuracy) -> tuple[float, str, bool]:
        """The reference of a torch checkpoint that has no ONNX (a state dict given as
        model.file): the official F1 where it applies, else the same checkpoint under torch
        fp32 (SDPA attention, not compiled) on the same samples, measured once and cached. It is
        labelled as such: it is not the onnxruntime figure other models are judged against."""
        if self.rows is None and self.cfg.model.reference_f1 is not None:
            return (
                float(self.cfg.model.reference_f1),
                "official fp32 F1 (model.reference_f1)",
                False,
            )
        from bert_sweep.backends.torch.config import TorchConfig

        c = self.cfg.backend
        reference = TorchConfig(
            batch_size=c.batch_size,
            device=c.device,
            threads=getattr(c, "threads", 0),
            device_index=getattr(c, "device_index", 0),
        )
        ref_numerics = reference.numerics_key()
        if numerics == ref_numerics:
            where = _provenance(own.measured_in, own.measured_at) if own.reused else "this run"
            return own.f1, f"its own fp32 torch F1 (no ONNX file): {where}", True
        digest = self.model.digest_for("torch")
        ref_key = accuracy_key(digest, self.dataset_digest, self.n_samples, ref_numerics)
        ref = store.get(ref_key)
        if ref is None:
            with self.timer("reference"):
                ref = self._measure_accuracy("reference", reference, self.model.checkpoint)
                store.put(ref_key, ref | {"numerics": ref_numerics})
            where = "measured now"
        else:
            where = _provenance(ref.get("run_dir"), ref.get("measured_at"))
        return ref["f1"], f"its own fp32 torch F1 (no ONNX file): {where}, same samples", True

    def _performance(self) -> Performance:
        from bert_sweep.harness.runner import run_test

        with self.timer("performance"):
            outcome = run_test(
                self._spec("performance", "performance", self.cfg.backend, self.prepared_path)
            )
        self.loaded_info = outcome.backend_info
        log = outcome.log
        return Performance(
            result=log.get("result"),
            result_name=log.get("result_key"),
            result_unit=log.get("result_unit"),
            samples_per_second=self._samples_per_second(log),
            validity=log.get("validity"),
            invalid_reasons=list(log.get("invalid_reasons", [])),
            latency_ns=dict(log.get("latency_ns", {})),
            samples_issued=outcome.samples_issued,
            duration_s=round(outcome.wall_s, 3),
            target_qps=log.get("effective", {}).get("target_qps"),
            seeds={
                "qsl_rng_seed": log.get("qsl_rng_seed"),
                "sample_index_rng_seed": log.get("sample_index_rng_seed"),
                "schedule_rng_seed": log.get("schedule_rng_seed"),
            },
            loadgen_version=log.get("loadgen_version"),
            errors=list(log.get("errors", [])),
            sut=dict(outcome.sut_stats or {}),
            log_dir=outcome.output_dir,
        )

    def _backend_info(self) -> dict:
        """The backend as prepared here, with what the loadgen process reported once it had
        loaded it (actual providers, streams, threads, precision) when a performance test ran."""
        info = dataclasses.asdict(self.backend.info())
        loaded = getattr(self, "loaded_info", None) or {}
        if loaded:
            info = info | loaded | {"details": info["details"] | loaded.get("details", {})}
        return info

    def _packages(self, packages: dict, backend_info: dict) -> dict:
        """This venv's versions, plus the engine's version as the backend reports it when the
        engine lives elsewhere (deepsparse's own venv)."""
        package = self.cfg.backend.ENGINE_PACKAGE
        version = backend_info.get("engine_version")
        if package and package not in packages and version and version[0].isdigit():
            packages = packages | {package: version}
        return packages

    @staticmethod
    def _samples_per_second(log: dict) -> float | None:
        """Throughput in every scenario (the search objective): Offline's result, Server's
        completed rate, and the inverse of the mean latency for the stream scenarios."""
        for key in ("samples_per_second", "completed_samples_per_second", "qps_w_lg"):
            if log.get(key):
                return float(log[key])
        mean = (log.get("latency_ns") or {}).get("mean")
        return 1e9 / mean if mean else None

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> RunRecord:
        from bert_sweep.report.system_info import git_commit, package_versions, system_info

        cfg = self.cfg
        started = time.time()
        self._assets()
        self._features()
        self._backend()
        accuracy = None
        if cfg.profile.accuracy:
            accuracy = (
                self._accuracy()
                if self.model.meaningful
                else Accuracy(meaningful=False, not_meaningful_reason="perf-only model")
            )
        performance = self._performance() if cfg.profile.performance else None
        verdict = decide(accuracy, performance, cfg.target, cfg.dataset.name)
        backend_info = self._backend_info()  # asks the loaded engine once
        record = RunRecord(
            status="ok",
            run_dir=str(self.run_dir),
            verdict=verdict,
            model=cfg.model.name,
            dataset=cfg.dataset.name,
            backend=cfg.backend.name,
            precision=cfg.backend.precision,
            device=cfg.device.name,
            scenario=cfg.scenario.name,
            profile=cfg.profile.name,
            batch_size=cfg.backend.batch_size,
            target=cfg.target,
            accuracy=accuracy,
            performance=performance,
            submission_ready=submission_ready(
                verdict, cfg.profile.valid_for_submission, self.model.packageable
            ),
            model_info=ModelInfo(
                path=str(self.model.path_for(self.model_format)),
                digest=self.model.digest_for(self.model_format),
                prepared_path=str(self.prepared_path),
                meaningful=self.model.meaningful,
                packageable=self.model.packageable,
            ),
            backend_info=backend_info,
            n_samples=self.n_samples,
            dataset_path=str(self.dataset_path),
            features_path=str(self.features_path),
            timings_s=self.timer.seconds | {"total": round(time.time() - started, 3)},
            system=system_info(),
            packages=self._packages(package_versions(), backend_info),
            git_commit=git_commit(Path(cfg.paths.root_dir)),
            started_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            config=dataclasses.asdict(cfg),
        )
        record.write(self.run_dir)
        return record


def _provenance(run_dir: str | None, measured_at: str | None) -> str:
    """Where a cached accuracy figure was measured, for its label."""
    return f"measured in {run_dir or 'an earlier run'} at {measured_at or 'an unrecorded date'}"
