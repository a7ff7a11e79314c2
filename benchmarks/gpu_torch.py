"""backend=torch on a GPU: BERT-large speed through the real harness, in one prepared run.

Why one script: a GPU machine is lent for minutes (15 in all, start-up included), so everything a
GPU check needs is prepared here and runs once: build the random-weight BERT-large torch
checkpoint (`model=bert-large-perf`: the real architecture, speed only; cached), featurize real
SQuAD dev questions (or synthesize features with the same length profile), then run one loadgen
Offline performance test per configuration through the project's run path
(`bert_sweep.harness.runner.run_test`: a fresh process per test, the batching SUT, the warm-up
that sets target_qps) and tabulate samples/s and peak GPU memory. A budget stops it starting new
tests once the time is spent; the ones left are listed as skipped.

Grid (default on cuda): precision fp16, bf16 x batch 1, 8, 32, 128 x padded / trimmed+sorted
(`harness.trim_padding` + `harness.sort_by_length`): 16 tests of ~5 s each plus ~10 s start-up
per process (spawn, import torch, load 1.3 GB of weights). Speeds are of random weights: accuracy
is not measured and means nothing here.

What the machine needs: an NVIDIA GPU with a CUDA build of torch and transformers (the H200
machine has torch 2.11 and transformers 5.17), plus what bert_sweep imports on this path: numpy,
hydra-core + omegaconf (with antlr4 and PyYAML), safetensors, tqdm, mlcommons-loadgen 6.0.17 (a
prebuilt cp311 wheel) and, for real SQuAD features, tokenizers; it needs no network. Where
bert_sweep is not installed, run it from the repository root as `python -m benchmarks.gpu_torch`
(the checkout is then on the import path, also for the spawned loadgen processes). Real SQuAD dev
and the vocab come from `--mirror DIR` (a folder holding the SQuAD v1.1 dev JSON, any name, found
by md5, and `bert-uncased-vocab.txt` or `vocab.txt`); without one the features are synthetic:
random tokens with the real features' length profile (mean 176 of 384 tokens), so padded vs
trimmed still compares as on real data.

Usage (from the repository root):
    python -m benchmarks.gpu_torch --out gpu_torch.json [--mirror /work/shared/data]
        [--batches 1,8,32,128] [--precisions fp16,bf16] [--duration-ms 4000] [--budget-s 420]
    python -m benchmarks.gpu_torch --device cpu --tiny --out tiny.json   # a CPU check (tests)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bert_sweep.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
TINY = {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "intermediate_size": 128}
SEQ = 384
REAL_MEAN_LENGTH = 176  # REFERENCE §1: real SQuAD dev features, mean tokens of 384


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/gpu_torch.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON results file")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--tiny", action="store_true", help="2-layer model, one batch size, short")
    p.add_argument("--mirror", type=Path, default=None, help="folder with SQuAD dev + vocab")
    p.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "bert_sweep")
    p.add_argument("--batches", default=None, help="comma list (default 1,8,32,128; tiny: 8)")
    p.add_argument("--precisions", default=None, help="default fp16,bf16 (cpu: bf16)")
    p.add_argument("--samples", type=int, default=None, help="features in the QSL (2048)")
    p.add_argument("--duration-ms", type=int, default=None, help="min_duration (4000; tiny 300)")
    p.add_argument("--budget-s", type=float, default=420.0, help="start no test after this")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--compile", action="store_true", help="backend.compile=true")
    args = p.parse_args(argv)
    args.batches = [
        int(b) for b in (args.batches or ("8" if args.tiny else "1,8,32,128")).split(",")
    ]
    default_precisions = "fp16,bf16" if args.device == "cuda" else "bf16"
    args.precisions = (args.precisions or default_precisions).split(",")
    args.samples = args.samples or (256 if args.tiny else 2048)
    args.duration_ms = (
        args.duration_ms if args.duration_ms is not None else (300 if args.tiny else 4000)
    )
    return args


# -- inputs ------------------------------------------------------------------------------------
def _vocab(mirror: Path | None) -> Path | None:
    for name in ("bert-uncased-vocab.txt", "vocab.txt"):
        if mirror is not None and (mirror / name).is_file():
            return mirror / name
    try:
        from bert_sweep.assets.vocab import packaged_vocab

        return packaged_vocab()
    except Exception:
        return None


def real_features(mirror: Path, cache: Path, samples: int):
    """The first questions of SQuAD v1.1 dev featurized like the reference; None if absent."""
    from bert_sweep.assets.catalog import SQUAD_DEV
    from bert_sweep.assets.download import fetch

    vocab = _vocab(mirror)
    if vocab is None:
        return None, "no vocab in the mirror"
    try:
        dev = fetch(SQUAD_DEV, cache / "downloads", mirror=mirror, offline=True, progress=False)
    except Exception as exc:
        return None, " ".join(str(exc).split())[:160]
    from bert_sweep.assets.squad import load_squad
    from bert_sweep.assets.vocab import load_tokenizer
    from bert_sweep.features.squad_features import convert_examples_to_features

    examples = load_squad(dev)[:samples]  # ~1.02 features per question
    features = convert_examples_to_features(examples, load_tokenizer(vocab), progress=False)
    return features.select(np.arange(min(samples, len(features)))), f"SQuAD v1.1 dev ({dev})"


def synthetic_features(samples: int, seed: int = 0):
    """Random tokens with the real length profile: lengths ~ gamma around the mean, in [24, 384]."""
    from bert_sweep.features.squad_features import Features

    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.gamma(4.0, REAL_MEAN_LENGTH / 4.0, samples), 24, SEQ).astype(int)
    ids = rng.integers(1000, 30000, (samples, SEQ)).astype(np.int32)
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int8)
    ids[mask == 0] = 0
    segment = ((np.arange(SEQ)[None, :] >= 20) & (mask == 1)).astype(np.int8)
    n = np.arange(samples, dtype=np.int32)
    return Features(
        input_ids=ids,
        input_mask=mask,
        segment_ids=segment,
        example_index=n,
        doc_offset=np.full(samples, 20, np.int32),
        span_start=np.zeros(samples, np.int32),
        span_length=(lengths - 21).astype(np.int32),
        max_context=mask.astype(bool),
        tok_to_orig=np.zeros(0, np.int32),
        tok_to_orig_offsets=np.zeros(samples + 1, np.int64),
    )


def checkpoint(args) -> Path:
    """The random-weight torch checkpoint (BERT-large, or the tiny one), built once and cached."""
    from bert_sweep.assets.random_model import build_random_checkpoint
    from bert_sweep.config.schema import ModelConfig

    shape = TINY if args.tiny else {}  # ModelConfig's defaults are BERT-large's
    model = ModelConfig(name="bert-large-perf", source="random", accuracy_meaningful=False, **shape)
    return build_random_checkpoint(model, args.cache_dir, progress=True)


# -- runs --------------------------------------------------------------------------------------
def run_one(
    args, model: Path, features_path: Path, logs: Path, precision: str, batch: int, trimmed: bool
) -> dict:
    from bert_sweep.backends.torch.config import TorchConfig
    from bert_sweep.harness.runner import run_test
    from bert_sweep.harness.spec import TestSpec

    name = f"{precision}-b{batch}-{'trimmed' if trimmed else 'padded'}"
    row = {"precision": precision, "batch": batch, "trimmed_sorted": trimmed}
    backend = TorchConfig(
        precision=precision,
        batch_size=batch,
        device=args.device,
        threads=args.threads,
        compile=args.compile,
    )
    spec = TestSpec(
        mode="performance",
        scenario="Offline",
        output_dir=str(logs / name),
        features_path=str(features_path),
        backend=backend,
        model_path=str(model),
        batch_size=batch,
        trim_padding=trimmed,
        sort_by_length=trimmed,
        settings={
            "min_duration": args.duration_ms,
            "min_query_count": max(4 * batch, 64),
            "performance_sample_count_override": args.samples,
        },
        auto_target=True,
        # above the warm-up's rate: the first batches (CUDA start-up) underestimate it, and an
        # Offline query that ends before min_duration is INVALID
        target_factor=1.5,
        warmup_batches=8,
    )
    started = time.perf_counter()
    try:
        outcome = run_test(spec, timeout_s=300)
    except Exception as exc:
        return row | {"error": " ".join(str(exc).split())[:300]}
    log = outcome.log
    details = outcome.backend_info.get("details", {})
    return row | {
        "samples_per_second": log.get("samples_per_second"),
        "validity": log.get("validity"),
        "invalid_reasons": log.get("invalid_reasons") or [],
        "samples": outcome.samples_issued,
        "test_s": round(outcome.wall_s, 2),
        "process_s": round(time.perf_counter() - started, 2),
        "peak_gpu_memory_bytes": details.get("cuda_peak_memory_bytes"),
        "device_name": details.get("device_name"),
        "weights_dtype": details.get("weights_dtype"),
    }


def table(rows: list[dict]) -> str:
    head = (
        f"{'precision':9} {'batch':>5} {'inputs':15} {'samples/s':>10} {'peak GPU MiB':>12}  note"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        mem = r.get("peak_gpu_memory_bytes")
        sps = r.get("samples_per_second")
        lines.append(
            f"{r['precision']:9} {r['batch']:>5} "
            f"{'trimmed+sorted' if r['trimmed_sorted'] else 'padded':15} "
            f"{(f'{sps:.1f}' if sps else '-'):>10} "
            f"{(f'{mem / 2**20:.0f}' if mem else '-'):>12}  "
            f"{r.get('error') or r.get('skipped') or r.get('validity') or ''}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    import torch
    import transformers

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"error: torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return 2
    model = checkpoint(args)
    build_s = time.perf_counter() - t0
    features, source = None, "no --mirror given"
    if args.mirror is not None:
        features, source = real_features(args.mirror, args.cache_dir, args.samples)
    if features is None:
        print(f"synthetic features ({source})", flush=True)
        features, source = synthetic_features(args.samples), f"synthetic ({source})"
    lengths = features.lengths()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gpu_torch-") as tmp:
        features_path = Path(tmp) / "features.npz"
        features.save(features_path)
        for precision in args.precisions:
            for trimmed in (True, False):
                for batch in args.batches:
                    if time.perf_counter() - t0 > args.budget_s:
                        rows.append(
                            {
                                "precision": precision,
                                "batch": batch,
                                "trimmed_sorted": trimmed,
                                "skipped": f"budget of {args.budget_s:g} s spent",
                            }
                        )
                        continue
                    row = run_one(args, model, features_path, Path(tmp), precision, batch, trimmed)
                    rows.append(row)
                    print(table([row]).splitlines()[-1], flush=True)
    result = {
        "script": "benchmarks/gpu_torch.py",
        "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "model": "tiny random BERT (2 layers, hidden 64)"
        if args.tiny
        else "random-weight BERT-large (model=bert-large-perf): speed only",
        "checkpoint": str(model),
        "checkpoint_build_s": round(build_s, 1),
        "features": {
            "source": source,
            "count": len(features),
            "mean_length": round(float(lengths.mean()), 1),
        },
        "min_duration_ms": args.duration_ms,
        "compile": args.compile,
        "runs": rows,
        "total_s": round(time.perf_counter() - t0, 1),
    }
    write_json_atomic(args.out, result)
    print(
        f"\n{result['model']} on {result['device_name']}, features: {source} "
        f"(mean length {result['features']['mean_length']})"
    )
    print(table(rows))
    print(f"total {result['total_s']} s -> {args.out}")
    done = [r for r in rows if r.get("samples_per_second")]
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
