"""Submission tree writer, validator rules, summary and tarball, on real loadgen logs.

The logs come from short real runs (noop backend, real loadgen, real SQuAD dev features): one over
the whole dataset (10,833 samples: a full-size accuracy log, a VALID 1-second performance run) and
one whose target_qps is far too low (INVALID). A 1-second run can never meet the 600 s rule, so
each rule is shown to fire where the logs break it and to stay quiet where they satisfy it; the
end-to-end test (test_submission_e2e.py) shows a whole tree passing.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
from pathlib import Path

import pytest

from bert_sweep.harness.mllog import parse_detail_log
from bert_sweep.report.record import RunRecord
from bert_sweep.submission import rules
from bert_sweep.submission.describe import default_measurements
from bert_sweep.submission.summary import summary_rows, write_summary
from bert_sweep.submission.system_desc import describe_system
from bert_sweep.submission.tarball import make_tarball, tarball_files
from bert_sweep.submission.tree import TreeSpec, truncated_log, write_tree
from bert_sweep.submission.validate import validate_tree
from bert_sweep.submission.versions import (
    F1_PATTERN,
    MAX_ACCURACY_LOG_BYTES,
    SYSTEM_REQUIRED_FIELDS,
    VERSIONS,
)
from tests.conftest import requires_shared_data

pytestmark = requires_shared_data()

V61 = VERSIONS["v6.1"]
SUBMITTER, SYSTEM = "TestOrg", "test_box"


def _run(tmp_path_factory, name: str, overrides: list[str]) -> tuple[Path, RunRecord]:
    """A real bert_sweep run (noop backend, real loadgen) in a fresh folder."""
    from bert_sweep.pipeline import Pipeline
    from bert_sweep.submission.run_config import config_from_overrides

    run_dir = tmp_path_factory.mktemp(name)
    model = run_dir / "model.onnx"
    model.write_bytes(b"noop backend: never read")
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    cfg = config_from_overrides(
        [
            "backend=noop",
            "model=file",
            f"model.file={model}",
            "dataset=squad",
            f"assets.mirror={shared}",
            "assets.progress=false",
            "reuse_accuracy=false",
            *overrides,
        ],
        run_dir,
    )
    return run_dir, Pipeline(cfg, run_dir).run()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Whole dataset, 1 s performance run: VALID, 10,833 samples, but far below 600 s."""
    # the query is sized from the warm-up's rate on this machine with a 4x margin: it outlasts
    # 1 s on any machine (a fixed target_qps ends early on a machine faster than it)
    overrides = [
        "profile=quick",
        "profile.max_samples=null",
        "scenario.target_qps=null",
        "scenario.qps_factor=4",
    ]
    return _run(tmp_path_factory, "full", overrides)


@pytest.fixture(scope="module")
def invalid_run(tmp_path_factory):
    """target_qps far below the real rate: the query ends before min_duration -> INVALID."""
    return _run(tmp_path_factory, "invalid", ["profile=quick", "scenario.target_qps=1"])


def _spec(run_dir: Path, results: RunRecord, version=V61, division="open", **extra) -> TreeSpec:
    acc = results.accuracy
    desc = describe_system(
        results,
        division=division,
        submitter=SUBMITTER,
        system_name="test box",
        system_type="edge",
        status="available",
        storage_path=run_dir,
    )
    fields = dict(
        version=version,
        division=division,
        submitter=SUBMITTER,
        system_id=SYSTEM,
        benchmark="bert-99",
        scenario="Offline",
        accuracy_dir=run_dir / "accuracy",
        performance_dir=run_dir / "performance",
        exact_match=acc.exact_match,
        f1=acc.f1,
        system_json=desc,
        measurements=default_measurements(results.config),
        results_readme="# result\n",
        code_readme="# code\n",
    )
    return TreeSpec(**(fields | extra))


@pytest.fixture(scope="module")
def tree(full_run, tmp_path_factory):
    run_dir, results = full_run
    return write_tree(_spec(run_dir, results), tmp_path_factory.mktemp("tree") / "submission")


def _copy_tree(tree, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(tree.root, root)
    return root


def _rules(report) -> list[str]:
    return sorted(v.rule for v in report.violations)


# -- the tree writer ---------------------------------------------------------------------------
def test_v6_tree_holds_exactly_the_required_files(tree):
    scenario = f"open/{SUBMITTER}/results/{SYSTEM}/bert-99/Offline"
    assert tree.files == sorted(
        [
            f"open/{SUBMITTER}/systems/{SYSTEM}.json",
            f"open/{SUBMITTER}/src/bert-99/README.md",
            f"{scenario}/README.md",
            f"{scenario}/user.conf",
            f"{scenario}/measurements.json",
            f"{scenario}/performance/run_1/mlperf_log_summary.txt",
            f"{scenario}/performance/run_1/mlperf_log_detail.txt",
            f"{scenario}/accuracy/mlperf_log_summary.txt",
            f"{scenario}/accuracy/mlperf_log_detail.txt",
            f"{scenario}/accuracy/mlperf_log_accuracy.json",
            f"{scenario}/accuracy/accuracy.txt",
        ]
    )
    on_disk = sorted(
        p.relative_to(tree.root).as_posix() for p in tree.root.rglob("*") if p.is_file()
    )
    assert on_disk == tree.files
    assert not list(tree.root.parent.glob(".*"))  # no staging folder left behind
    for rel in tree.files:
        assert stat.S_IMODE((tree.root / rel).stat().st_mode) == 0o644


def test_accuracy_log_truncated_and_hashed_like_the_official_tool(full_run, tree):
    run_dir, results = full_run
    full = (run_dir / "accuracy" / "mlperf_log_accuracy.json").read_bytes()
    assert len(full) > 50 * 1024 * 1024  # a real 10,833-sample log (3,072 bytes each as hex)
    packed = (tree.scenario_dir / "accuracy" / "mlperf_log_accuracy.json").read_bytes()
    assert len(packed) <= MAX_ACCURACY_LOG_BYTES
    assert packed == full[:4096] + b"\n\n...\n\n" + full[-4096:]
    text = (tree.scenario_dir / "accuracy" / "accuracy.txt").read_text()
    first, second = text.splitlines()
    assert second == f"hash={hashlib.sha256(full).hexdigest()}" == f"hash={tree.accuracy_hash}"
    match = re.match(F1_PATTERN, first)
    assert match and float(match.group(1)) == pytest.approx(results.accuracy.f1, abs=1e-6)
    assert json.loads(first) == {
        "exact_match": pytest.approx(results.accuracy.exact_match, abs=1e-6),
        "f1": pytest.approx(results.accuracy.f1, abs=1e-6),
    }


def test_short_log_is_kept_whole(full_run):
    run_dir, _ = full_run
    small = run_dir / "performance" / "mlperf_log_accuracy.json"  # loadgen's empty list
    assert small.stat().st_size < 4096
    assert truncated_log(small) == small.read_bytes()


def test_user_conf_and_logs_are_the_runs_own(full_run, tree):
    run_dir, _ = full_run
    assert (tree.scenario_dir / "user.conf").read_bytes() == (
        run_dir / "performance" / "user.conf"
    ).read_bytes()
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
        assert (tree.scenario_dir / "performance" / "run_1" / name).read_bytes() == (
            run_dir / "performance" / name
        ).read_bytes()


def test_system_json_has_every_required_field(tree):
    desc = json.loads((tree.root / f"open/{SUBMITTER}/systems/{SYSTEM}.json").read_text())
    assert set(SYSTEM_REQUIRED_FIELDS) <= set(desc)
    assert desc["division"] == "open" and desc["submitter"] == SUBMITTER
    assert desc["number_of_nodes"] == 1 and desc["accelerators_per_node"] == "0"
    assert desc["host_processor_core_count"] >= 1
    assert rules.system_description(desc, "x", "open", SUBMITTER) == []


def test_refuses_to_overwrite(full_run, tree):
    run_dir, results = full_run
    with pytest.raises(Exception, match="already exists"):
        write_tree(_spec(run_dir, results), tree.root)


# -- the validator on real short-run logs --------------------------------------------------------
def test_short_run_fails_only_the_duration_rule(tree):
    report = validate_tree(tree.root, V61)
    assert _rules(report) == ["min-duration"]
    assert "effective_min_duration_ms=1000" in report.violations[0].message
    assert len(report.results) == 1 and report.results[0].result is not None
    assert not report.ok


@pytest.mark.parametrize("version", ["v6.0", "v5.1"])
def test_seeds_of_another_checker_version_are_reported(tree, version):
    report = validate_tree(tree.root, VERSIONS[version])
    seeds = [v for v in report.violations if v.rule == "seeds"]
    assert {v.message.split("=")[0] for v in seeds} == {
        "qsl_rng_seed",
        "sample_index_rng_seed",
        "schedule_rng_seed",
    }
    assert all("loadgen 6.0.17" in v.message for v in seeds)


def test_v51_layout(full_run, tmp_path):
    run_dir, results = full_run
    written = write_tree(_spec(run_dir, results, version=VERSIONS["v5.1"]), tmp_path / "sub")
    top = f"open/{SUBMITTER}"
    tail = f"{SYSTEM}/bert-99/Offline"
    assert f"{top}/code/bert-99/README.md" in written.files
    assert f"{top}/measurements/{tail}/{SYSTEM}_Offline.json" in written.files
    assert f"{top}/measurements/{tail}/user.conf" in written.files
    assert not any(f.startswith(f"{top}/src/") for f in written.files)
    assert f"{top}/results/{tail}/user.conf" not in written.files
    report = validate_tree(written.root, VERSIONS["v5.1"])
    assert set(_rules(report)) == {"min-duration", "seeds"}
    # The same tree read with the v6 layout is missing its measurements and src/.
    v6 = validate_tree(written.root, V61)
    assert {"missing-file", "code-dir", "stray-file"} <= set(_rules(v6))


def test_invalid_run_is_reported(invalid_run):
    run_dir, _ = invalid_run
    log = parse_detail_log(run_dir / "performance" / "mlperf_log_detail.txt")
    found = rules.performance_log(log, "perf", V61, "open", "Offline")
    validity = [v for v in found if v.rule == "validity"]
    assert validity and "INVALID" in validity[0].message
    assert "result_min_duration_met" in validity[0].message


def test_partial_dataset_accuracy_run_is_reported(invalid_run):
    run_dir, _ = invalid_run  # profile=quick: the first 256 features only
    log = parse_detail_log(run_dir / "accuracy" / "mlperf_log_detail.txt")
    found = rules.accuracy_log(log, "acc", "Offline")
    assert [v.rule for v in found] == ["dataset-size"]
    assert "256 samples" in found[0].message


def test_full_dataset_logs_pass_their_count_rules(full_run):
    run_dir, _ = full_run
    acc = parse_detail_log(run_dir / "accuracy" / "mlperf_log_detail.txt")
    assert rules.accuracy_log(acc, "acc", "Offline") == []
    perf = parse_detail_log(run_dir / "performance" / "mlperf_log_detail.txt")
    found = {v.rule for v in rules.performance_log(perf, "perf", V61, "closed", "Offline")}
    assert found == {"min-duration"}  # count, seeds, validity, samples per query all hold
    assert rules.performance_log(perf, "perf", V61, "open", "Server")[0].rule == "scenario"


def test_stray_files_and_folder_hygiene(full_run, tree, tmp_path):
    run_dir, _ = full_run
    root = _copy_tree(tree, tmp_path)
    scenario = root / tree.scenario_dir.relative_to(tree.root)
    (scenario / "accuracy" / "predictions.json").write_text("{}")
    (scenario / ".DS_Store").write_text("x")
    (scenario / "notes here.txt").write_text("x")
    (root / "open" / SUBMITTER / "empty").mkdir()
    shutil.copyfile(
        run_dir / "accuracy" / "mlperf_log_accuracy.json",
        scenario / "accuracy" / "mlperf_log_accuracy.json",
    )
    found = set(_rules(validate_tree(root, V61)))
    assert {
        "file-set",
        "dot-name",
        "space-name",
        "empty-folder",
        "stray-file",
        "accuracy-log-size",
        "file-size",
    } <= found


def test_missing_files_and_bad_accuracy_text(tree, tmp_path):
    root = _copy_tree(tree, tmp_path)
    scenario = root / tree.scenario_dir.relative_to(tree.root)
    (scenario / "user.conf").unlink()
    (scenario / "accuracy" / "accuracy.txt").write_text('{"exact_match": 1.0, "f1": 2.0}\n')
    found = _rules(validate_tree(root, V61))
    assert "missing-file" in found and "accuracy-hash" in found


def test_closed_division_needs_target_test01_and_scenarios(full_run, tmp_path):
    run_dir, results = full_run
    written = write_tree(_spec(run_dir, results, division="closed"), tmp_path / "sub")
    found = set(_rules(validate_tree(written.root, V61)))
    assert {"accuracy-target", "test01", "scenarios", "min-duration"} <= found


def test_system_rules():
    good = {k: "x" for k in SYSTEM_REQUIRED_FIELDS} | {
        "division": "open",
        "submitter": SUBMITTER,
        "status": "available",
        "system_type": "edge",
        "number_of_nodes": 1,
        "accelerators_per_node": "0",
    }
    assert rules.system_description(good, "s", "open", SUBMITTER) == []
    cases = {
        "system-field": good | {"accelerators_per_node": 0},  # the checker's emptiness test
        "system-type": good | {"system_type": "datacenter"},
        "system-submitter": good | {"submitter": "Other"},
        "system-division": good | {"division": "closed"},
        "system-status": good | {"status": "soon"},
    }
    for rule, desc in cases.items():
        assert rule in {v.rule for v in rules.system_description(desc, "s", "open", SUBMITTER)}
    missing = {k: v for k, v in good.items() if k != "cooling"}
    assert [v.message for v in rules.system_description(missing, "s", "open", SUBMITTER)] == [
        "field cooling is missing"
    ]
    assert rules.measurements({"input_data_types": "int64"}, "m")[0].rule == "measurements-field"


# -- summary and tarball -----------------------------------------------------------------------
def test_summary_has_the_final_report_columns(full_run, tree, tmp_path):
    run_dir, results = full_run
    report = validate_tree(tree.root, V61)
    desc = json.loads((tree.root / f"open/{SUBMITTER}/systems/{SYSTEM}.json").read_text())
    rows = summary_rows(report, V61, {SYSTEM: desc}, default_measurements(results.config))
    csv_path, json_path = write_summary(rows, V61.csv_columns, tmp_path, SUBMITTER)
    assert csv_path.name == f"{SUBMITTER}_summary.csv"
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header == list(V61.csv_columns)
    (row,) = json.loads(json_path.read_text())
    perf = parse_detail_log(run_dir / "performance" / "mlperf_log_detail.txt")
    assert row["Result"] == perf.result and row["Units"] == "Samples/s"
    assert row["Organization"] == SUBMITTER and row["Platform"] == SYSTEM
    assert row["host_processor_model_name"] == desc["host_processor_model_name"]
    assert row["errors"] == 1  # the one short-run violation


def test_tarball_holds_the_tree(tree, tmp_path):
    path = make_tarball(tree.root, tmp_path / "mlperf_submission.tar.gz")
    assert tarball_files(path) == tree.files


# -- TEST01 verification (closed division) on real logs -------------------------------------------
def test_test01_log_comparison(full_run, invalid_run):
    from bert_sweep.submission.compliance import compare_logs

    full = full_run[0] / "accuracy" / "mlperf_log_accuracy.json"
    short = invalid_run[0] / "accuracy" / "mlperf_log_accuracy.json"  # the first 256 samples
    passed, text = compare_logs(full, short)
    assert passed and text.endswith("TEST PASS\n")
    assert "num_perf_log_qsl_idx_match = 256" in text
    passed, text = compare_logs(short, full)  # samples the reference never saw
    assert not passed and "num_missing_qsl_idxs = 10577" in text
    assert rules.verify_text(text, "v", "test01-accuracy")[0].message == "does not say TEST PASS"


def test_test01_performance_verification(full_run, invalid_run):
    from bert_sweep.submission.compliance import verify_performance

    valid = full_run[0] / "performance" / "mlperf_log_detail.txt"
    invalid = invalid_run[0] / "performance" / "mlperf_log_detail.txt"
    passed, text = verify_performance(valid, valid)
    assert passed and "TEST PASS" in text
    passed, text = verify_performance(valid, invalid)
    assert not passed and "TEST FAIL: test run is INVALID" in text


def test_test01_subset_accuracy_delta(full_run, invalid_run):
    from bert_sweep.submission.tree import accuracy_text

    full, short = full_run[1].accuracy, invalid_run[1].accuracy
    text_full = accuracy_text(full.exact_match, full.f1, "0" * 64)
    text_short = accuracy_text(short.exact_match, short.f1, "0" * 64)
    assert rules.test01_accuracy_delta(text_full, text_full, "t", "bert-99") == []
    delta = abs(1 - full.f1 / short.f1) * 100
    found = rules.test01_accuracy_delta(text_full, text_short, "t", "bert-99")
    assert (found != []) == (delta > 1.0)
