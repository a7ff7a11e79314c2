"""Run one loadgen test in a fresh process and return its outcome.

Why a fresh (spawned) process per test: loadgen counts `FromConfig` calls in a static variable
and only the first call in a process applies the embedded mlperf.conf; a second test in the same
process silently runs with zero rng seeds and a logged error, i.e. an unsubmittable result. Spawn
(not fork) also keeps the parent's threads and engine state out of the child.

Why the child works inside `output_dir`: loadgen looks for `audit.config` (a compliance-test
override) at the path it is given, by default relative to the working directory; a stray file in
the user's cwd would silently turn the run into a compliance run. The child runs from
`output_dir`, passes loadgen that folder's `audit.config` path explicitly, and refuses to run
when one is there.

Why the child dies with its parent: a parent killed outright (SIGKILL, out of memory) runs no
cleanup, and a loadgen test can go on at full CPU for the 600 s of a submission run. On Linux the
child asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), first thing, then checks
that its parent is still the process that started it (the parent may have died before the
request); elsewhere a thread waits on a pipe whose only writer is the parent and exits on its EOF.
(PDEATHSIG follows the parent *thread* that started the child: run_test is called from the main
thread.)

The child sends ("ok", TestOutcome) or ("error", one-line message) back through a Pipe; its
traceback goes to `output_dir/harness_error.txt`. A child that dies without a word (killed,
segfault, out of memory) is reported with its exit code.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path

from bert_sweep.atomic import write_text_atomic
from bert_sweep.errors import (
    AssetError,
    BertSweepError,
    ConfigError,
    HarnessError,
    field_error,
    one_line,
)
from bert_sweep.harness.spec import MODES, SCENARIOS, TestOutcome, TestSpec

DETAIL_LOG = "mlperf_log_detail.txt"
SUMMARY_LOG = "mlperf_log_summary.txt"
ACCURACY_LOG = "mlperf_log_accuracy.json"
ERROR_FILE = "harness_error.txt"
MULTISTREAM_SAMPLES_PER_QUERY = 8  # mlperf.conf's *.MultiStream.samples_per_query
_LOADGEN_MODES = {"accuracy": "AccuracyOnly", "performance": "PerformanceOnly"}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# FromConfig calls made by this process (see module docstring: only the first applies mlperf.conf)
_from_config_calls = 0


def check_spec(spec: TestSpec) -> None:
    """Validate a TestSpec before spending a process on it (ConfigError/AssetError, one line)."""
    if spec.mode not in MODES:
        raise field_error("mode", spec.mode, f"one of {list(MODES)}")
    if spec.scenario not in SCENARIOS:
        raise field_error("scenario", spec.scenario, f"one of {list(SCENARIOS)}")
    if (spec.user_conf is None) == (spec.settings is None):
        raise field_error(
            "user_conf",
            type(spec.user_conf).__name__,
            "either rendered user.conf text or a settings mapping, not both",
        )
    if spec.user_conf is not None and spec.auto_target:
        raise field_error("auto_target", True, "settings (not rendered text) to set the target")
    if not spec.output_dir:
        raise field_error("output_dir", spec.output_dir, "a folder path")
    if not Path(spec.features_path).is_file():
        raise AssetError(f"{spec.features_path}: features file not found")
    from bert_sweep.backends.config import BackendConfig

    if not isinstance(spec.backend, BackendConfig) and (
        not isinstance(spec.backend, Mapping) or "_target_" not in spec.backend
    ):
        raise field_error(
            "backend", spec.backend, "a BackendConfig or a mapping with a '_target_' class path"
        )
    for name in ("batch_size", "workers"):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise field_error(name, value, "an integer >= 1")
    if not isinstance(spec.batch_timeout_ms, int | float) or spec.batch_timeout_ms < 0:
        raise field_error("batch_timeout_ms", spec.batch_timeout_ms, "a number of ms >= 0")


# -- parent side ----------------------------------------------------------------------------------
def run_test(spec: TestSpec, timeout_s: float | None = None) -> TestOutcome:
    """Run one loadgen test in a fresh spawned process; HarnessError if it fails or times out."""
    check_spec(spec)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    # read by the child; its only writer stays here, so the child sees EOF when this process dies
    lifeline_r, lifeline_w = ctx.Pipe(duplex=False)
    name = f"loadgen-{spec.scenario}-{spec.mode}"
    process = ctx.Process(
        target=_child_main, args=(spec, sender, os.getpid(), lifeline_r), name=name
    )
    message = None
    try:
        process.start()
        sender.close()  # the child holds the only writer: EOF when it dies
        lifeline_r.close()
        ready = multiprocessing.connection.wait([receiver, process.sentinel], timeout_s)
        if not ready:
            raise HarnessError(
                f"{spec.output_dir}: loadgen {spec.scenario} {spec.mode} test still running "
                f"after {timeout_s:g} s; process killed"
            )
        if receiver.poll():
            try:
                message = receiver.recv()
            except EOFError:
                message = None
        process.join()
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()
        lifeline_w.close()
    if message is None:
        raise HarnessError(
            f"{spec.output_dir}: loadgen test process died without a result "
            f"(exit code {_describe_exit(process.exitcode)})"
        )
    status, payload = message
    if status != "ok":
        raise HarnessError(str(payload))
    return payload


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"{code}, {signal.Signals(-code).name}"
        except ValueError:
            pass
    return str(code)


# -- child side -----------------------------------------------------------------------------------
def _die_with_parent(parent_pid: int, lifeline) -> None:
    """Make sure this process does not outlive `parent_pid` (see the module docstring)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                lifeline.close()
                if os.getppid() != parent_pid:  # the parent died before the request
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()  # the parent never writes: this returns (EOFError) once it is gone
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(spec: TestSpec, sender, parent_pid: int, lifeline) -> None:
    """Entry point of the spawned process: run, then report through the pipe."""
    _die_with_parent(parent_pid, lifeline)
    try:
        outcome = run_test_in_process(spec)
        sender.send(("ok", outcome))
    except BaseException as exc:  # everything must reach the parent, as one line
        message = (
            str(exc)
            if isinstance(exc, BertSweepError)
            else one_line(exc, with_type=True, first_line=True)
        )
        _save_traceback(Path(spec.output_dir), exc, keep_existing=True)
        sender.send(("error", message.splitlines()[0] if message else type(exc).__name__))
    finally:
        sender.close()


def run_test_in_process(spec: TestSpec) -> TestOutcome:
    """Run the test in THIS process. Only for the spawned child (use `run_test`).

    Changes the working directory for the duration of the test, and refuses a second call in one
    process because loadgen would skip mlperf.conf.
    """
    check_spec(spec)
    if _from_config_calls:
        raise HarnessError(
            "loadgen already read a config in this process and would skip mlperf.conf "
            "(zero rng seeds); run each test with run_test (fresh process)"
        )
    # relative paths mean the caller's cwd; the test itself runs from output_dir
    spec = dataclasses.replace(
        spec,
        features_path=str(Path(spec.features_path).resolve()),
        model_path=_absolute_if_exists(spec.model_path),
    )
    out = Path(spec.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    audit = out / "audit.config"
    if audit.exists():
        raise HarnessError(f"{audit}: refusing to run: audit.config would make a compliance run")
    stale = sorted(p.name for p in out.glob("mlperf_log_*"))
    if stale:
        raise HarnessError(f"{out}: holds loadgen logs ({stale[0]}); expected a fresh folder")
    cwd = os.getcwd()
    os.chdir(out)
    try:
        return _run(spec, out, audit)
    finally:
        os.chdir(cwd)


def _run(spec: TestSpec, out: Path, audit: Path) -> TestOutcome:
    global _from_config_calls
    import mlperf_loadgen as lg

    from bert_sweep.harness.mllog import parse_detail_log
    from bert_sweep.harness.qsl import FeatureQSL
    from bert_sweep.harness.sut import BatchingSUT

    features = _load_features(spec.features_path)
    qsl = FeatureQSL(features, spec.sample_rows)  # loadgen's count: mlperf.conf/user.conf
    del features  # the QSL holds int64 copies of what it needs
    backend = make_backend(spec.backend, log_dir=out)
    backend.load(Path(spec.model_path))
    sut = BatchingSUT(
        backend,
        qsl,
        spec.scenario,
        batch_size=spec.batch_size,
        workers=spec.workers,
        batch_timeout_ms=spec.batch_timeout_ms,
        trim_padding=spec.trim_padding,
        sort_by_length=spec.sort_by_length,
    )
    conf_path = out / "user.conf"
    _write_atomic(conf_path, _user_conf_text(spec, sut))
    settings = lg.TestSettings()
    _from_config_calls += 1
    rc = settings.FromConfig(str(conf_path), spec.loadgen_model, spec.scenario)
    if rc != 0:
        raise HarnessError(f"{conf_path}: loadgen rejected user.conf (FromConfig returned {rc})")
    settings.scenario = getattr(lg.TestScenario, spec.scenario)
    settings.mode = getattr(lg.TestMode, _LOADGEN_MODES[spec.mode])
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = bool(spec.enable_trace)

    lg_sut = lg_qsl = None
    try:
        sut.start()
        lg_sut = sut.construct()
        lg_qsl = qsl.construct()
        t0 = time.perf_counter()
        lg.StartTestWithLogSettings(lg_sut, lg_qsl, settings, log_settings, str(audit))
        wall_s = time.perf_counter() - t0
    finally:
        sut.stop()
        if lg_qsl is not None:
            lg.DestroyQSL(lg_qsl)
        if lg_sut is not None:
            lg.DestroySUT(lg_sut)
    try:
        info = dataclasses.asdict(backend.info())
    finally:
        backend.close()
    if sut.error is not None:
        _save_traceback(out, sut.error, sut.error_traceback)
        raise HarnessError(
            f"backend {getattr(backend, 'name', type(backend).__name__)} failed in predict "
            f"during the {spec.scenario} {spec.mode} test: {sut.error_message}"
        )
    log = parse_detail_log(out / DETAIL_LOG)
    return TestOutcome(
        mode=spec.mode,
        output_dir=str(out),
        summary_path=str(out / SUMMARY_LOG),
        detail_path=str(out / DETAIL_LOG),
        accuracy_log_path=str(out / ACCURACY_LOG),
        wall_s=wall_s,
        samples_issued=sut.stats.samples + sut.stats.failed_samples,
        log=dataclasses.asdict(log),
        scenario=spec.scenario,
        user_conf_path=str(conf_path),
        sut_stats=dataclasses.asdict(sut.stats),
        backend_info=info,
    )


def _user_conf_text(spec: TestSpec, sut) -> str:
    """The user.conf this test runs with: given text, or settings rendered after a warm-up."""
    from bert_sweep.harness.user_conf import render_user_conf

    if spec.user_conf is not None:
        return spec.user_conf
    settings = dict(spec.settings)
    if spec.auto_target:
        batches = max(1, spec.warmup_batches)
        if spec.scenario in ("Offline", "Server"):
            rate = sut.measure_rate(batches)
            settings["target_qps"] = round(rate * spec.target_factor, 3)
        else:
            # Stream scenarios: loadgen sizes the run from the expected query latency, so an
            # expected latency above the real one ends the run before min_duration (INVALID).
            query = (
                1
                if spec.scenario == "SingleStream"
                else int(settings.get("samples_per_query") or MULTISTREAM_SAMPLES_PER_QUERY)
            )
            rate = sut.measure_rate(batches, size=query)
            settings["target_latency"] = round(1000.0 * query / (rate * spec.target_factor), 6)
    return render_user_conf(spec.loadgen_model, spec.scenario, settings)


def _absolute_if_exists(path: str) -> str:
    """A model path that exists, made absolute; anything else (a name a backend knows) as is."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def _load_features(path: str):
    from bert_sweep.features.squad_features import Features

    try:
        return Features.load(Path(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(f"{path}: cannot read features ({type(exc).__name__})") from None


def backend_config(config):
    """A backend config as its dataclass: given as one (pickled whole into the child, so a
    backend defined anywhere importable works), or as a dict with `_target_` rebuilt into the
    registered dataclass of that target (validated by its `__post_init__`)."""
    from bert_sweep.backends.config import BackendConfig
    from bert_sweep.backends.registry import config_from_dict

    if isinstance(config, BackendConfig):
        return config
    return config_from_dict(dict(config))


def make_backend(config, log_dir: Path | None = None):
    """The implementation named by the config's `_target_`, built as `Backend(config)`; with
    `isolated` set, wrapped to run in a worker process (bert_sweep.isolation) whose log goes to
    `log_dir` (the test's output folder)."""
    from hydra.utils import get_class

    from bert_sweep.backends.base import Backend

    config = backend_config(config)
    target = config._target_
    try:
        cls = get_class(target)
    except Exception as exc:
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ConfigError(f"backend._target_={target!r}: cannot import ({first})") from None
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise field_error("backend._target_", target, "a bert_sweep.backends.base.Backend class")
    backend = cls(config)
    if config.isolated and not backend.RUNS_IN_WORKER:
        from bert_sweep.isolation.backend import IsolatedBackend

        backend = IsolatedBackend(config, backend)
    backend.worker_log_dir = log_dir
    return backend


def _write_atomic(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _save_traceback(
    out: Path, exc: BaseException, text: str | None = None, keep_existing: bool = False
) -> None:
    """Best effort: the full traceback for whoever debugs a one-line HarnessError."""
    text = text or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        if keep_existing and (out / ERROR_FILE).exists():
            return
        if out.is_dir():
            _write_atomic(out / ERROR_FILE, text)
    except OSError:
        pass
