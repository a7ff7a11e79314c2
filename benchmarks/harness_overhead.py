"""Harness overhead and featurization time.

1. Harness overhead: the same model, batch size, threads and samples run (a) as a raw loop of
   `backend.predict` calls and (b) as a loadgen Offline performance test through the project's
   QSL + batching SUT. Both run in fresh processes; the ratio (b)/(a) is the share of raw speed the
   harness keeps (REFERENCE: a batching Python SUT reaches >= 98% of a raw onnxruntime loop).
2. Featurization: the full SQuAD v1.1 dev set (10,570 questions -> 10,833 features) from scratch,
   and the cached load.

Usage:
    .venv/bin/python benchmarks/harness_overhead.py [--mirror ../shared/data] [--samples 512]
        [--batch 32] [--threads 0] [--trim] [--repeats 3]
Results are printed and written to outputs/benchmarks/harness_overhead-<time>.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from bert_sweep.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


def raw_loop(
    backend_cfg, model_path: str, features_path: str, n: int, batch: int, trim: bool, queue
) -> None:
    """Child process: time back-to-back predict calls over the first n samples."""
    import numpy as np

    from bert_sweep.features.squad_features import Features
    from bert_sweep.harness.qsl import FeatureQSL

    qsl = FeatureQSL(Features.load(Path(features_path)), list(range(n)))
    from bert_sweep.harness.runner import make_backend

    backend = make_backend(backend_cfg)
    backend.load(Path(model_path))
    warm = np.arange(min(batch, n))
    backend.predict(qsl.batch(warm))  # session warm-up, untimed (the SUT run has one too)
    t0 = time.perf_counter()
    for first in range(0, n, batch):
        index = np.arange(first, min(first + batch, n))
        width = int(qsl.lengths[index].max()) if trim else None
        backend.predict(qsl.batch(index, width))
    queue.put(n / (time.perf_counter() - t0))


def run_raw(backend_cfg, model_path, features_path, n, batch, trim) -> float:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=raw_loop, args=(backend_cfg, model_path, features_path, n, batch, trim, queue)
    )
    proc.start()
    rate = queue.get()
    proc.join()
    return rate


def run_loadgen(
    backend_cfg, model_path, features_path, n, batch, trim, out: Path, sort: bool = False
) -> float:
    from bert_sweep.harness.runner import run_test
    from bert_sweep.harness.spec import TestSpec

    spec = TestSpec(
        mode="performance",
        scenario="Offline",
        output_dir=str(out),
        features_path=features_path,
        backend=backend_cfg,
        model_path=model_path,
        batch_size=batch,
        trim_padding=trim,
        sample_rows=list(range(n)),
        # One query of exactly n samples: min_duration 0, so the query size is min_query_count.
        settings={
            "min_duration": 0,
            "min_query_count": n,
            "target_qps": 1,
            "performance_sample_count_override": n,
        },
    )
    outcome = run_test(spec)
    return float(outcome.log["samples_per_second"])


def bench_featurization(squad_path: Path, vocab_path: Path) -> dict:
    from bert_sweep.features.squad_features import load_or_build_features

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        feats, _, _ = load_or_build_features(squad_path, vocab_path, Path(cache), progress=False)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_or_build_features(squad_path, vocab_path, Path(cache), progress=False)
        cached = time.perf_counter() - t0
    return {"features": len(feats), "build_s": round(build, 2), "cached_load_s": round(cached, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "bert_sweep"))
    parser.add_argument(
        "--mirror",
        default=str(ROOT.parent / "shared" / "data"),
        help="folder holding the SQuAD v1.1 dev set (found by md5)",
    )
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", default="onnx", help="a registered backend (onnx, openvino)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--trim", action="store_true", help="trim batches to their longest sample")
    parser.add_argument(
        "--sort",
        action="store_true",
        help="SUT sorts the Offline query by length (pairs with --trim)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from bert_sweep.assets.catalog import CATALOG
    from bert_sweep.assets.download import fetch
    from bert_sweep.assets.vocab import packaged_vocab
    from bert_sweep.backends.base import Calibration
    from bert_sweep.backends.registry import by_name, names
    from bert_sweep.embedded.build import build_embedded
    from bert_sweep.features.squad_features import load_or_build_features
    from bert_sweep.harness.runner import make_backend
    from bert_sweep.report.system_info import package_versions, system_info

    cache = Path(args.cache_dir)
    squad = fetch(
        CATALOG["squad_dev"], cache / "downloads", mirror=args.mirror, offline=True, progress=False
    )
    vocab = packaged_vocab()
    featurization = bench_featurization(squad, vocab)

    embedded = build_embedded(cache)
    features, _, features_path = load_or_build_features(squad, vocab, cache, progress=False)
    cls = by_name(args.backend)
    if cls is None:
        parser.error(f"--backend={args.backend}: expected one of {names()}")
    # the field the `threads` knob sets for this backend (its KNOBS), e.g. intra_op_threads
    threads = {f: args.threads for f, knob in cls.KNOBS.items() if knob == "${threads}"}
    backend_cfg = cls(batch_size=args.batch, precision=args.precision, **threads)
    # derived models (quantized, compiled) are prepared as a run prepares them
    calibration = Calibration(str(features_path), len(features), args.samples)
    prepared = make_backend(backend_cfg).prepare(embedded.model_path, cache, calibration)
    model = str(prepared)
    raw, harness = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved, so drift on a noisy machine hits both
            raw.append(
                run_raw(backend_cfg, model, str(features_path), args.samples, args.batch, args.trim)
            )
            harness.append(
                run_loadgen(
                    backend_cfg,
                    model,
                    str(features_path),
                    args.samples,
                    args.batch,
                    args.trim,
                    Path(tmp) / f"lg{r}",
                    args.sort,
                )
            )
    raw_med, harness_med = statistics.median(raw), statistics.median(harness)
    result = {
        "benchmark": "harness_overhead",
        "model": "embedded (MiniLM-L6 QA, ONNX)",
        "backend": f"{backend_cfg.name} {backend_cfg.precision}",
        "samples": args.samples,
        "batch": args.batch,
        "threads": args.threads,
        "trim_padding": args.trim,
        "sort_by_length": args.sort,
        "repeats": args.repeats,
        "raw_samples_per_s": [round(x, 2) for x in raw],
        "loadgen_samples_per_s": [round(x, 2) for x in harness],
        "ratio_median": round(harness_med / raw_med, 4),
        "featurization": featurization,
        "system": system_info(),
        "packages": package_versions(),
    }
    print(f"raw backend loop   : {raw_med:9.2f} samples/s  (runs: {result['raw_samples_per_s']})")
    print(
        f"loadgen + SUT      : {harness_med:9.2f} samples/s  "
        f"(runs: {result['loadgen_samples_per_s']})"
    )
    print(f"harness/raw ratio  : {result['ratio_median']:.3f}")
    print(
        f"featurize dev set  : {featurization['features']} features in "
        f"{featurization['build_s']:.2f} s (cached load {featurization['cached_load_s']:.2f} s)"
    )
    out = (
        ROOT / "outputs" / "benchmarks" / f"harness_overhead-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    write_json_atomic(out, result)
    print(f"written            : {out}")


if __name__ == "__main__":
    main()
