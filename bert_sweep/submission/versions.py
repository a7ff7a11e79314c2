"""What each submission-checker version expects: layout, rng seeds, targets, limits.

These are facts read from the official checker (mlcommons/inference,
`tools/submission/submission_checker/constants.py` at v6.x, and `submission_checker.py` at
v5.1.1) and from loadgen's `mlperf.conf`. They live in one table so the tree writer and the
validator cannot disagree, and so a new checker version is one entry here.

Why seeds per version: the rng seeds are baked into each loadgen wheel through its embedded
mlperf.conf, and the checker compares them with its own table (open division too). A run made
with loadgen 6.0.17 carries the v6.1 seeds and can only be packaged for checker v6.1.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- benchmark facts (MLPerf BERT on SQuAD v1.1) --------------------------------------------------
DATASET_SIZE = 10833  # features of SQuAD v1.1 dev = loadgen samples; accuracy run must cover all
PERFORMANCE_SAMPLE_COUNT = 10833  # checker "performance-sample-count" for bert-99 / bert-99.9
MIN_DURATION_MS = 600_000  # checker TEST_DURATION_MS
OFFLINE_MIN_SAMPLES_PER_QUERY = 10833  # checker OFFLINE_MIN_SPQ_SINCE_V4["bert-99"]
SERVER_LATENCY_NS = 130_000_000  # mlperf.conf bert.Server.target_latency (ms) as ns
REFERENCE_F1 = 90.874  # fp32 reference F1 of BERT-large on SQuAD v1.1 dev
BENCHMARKS = {0.99: "bert-99", 0.999: "bert-99.9"}  # accuracy target -> benchmark folder name

# --- checker limits and file sets -----------------------------------------------------------------
MAX_FILE_BYTES = 50 * 1024 * 1024  # FILE_SIZE_LIMIT_MB: no file over 50 MB in a submission
MAX_ACCURACY_LOG_BYTES = 10 * 1024  # MAX_ACCURACY_LOG_SIZE: the accuracy log must be truncated
TRUNCATE_KEEP_CHARS = 4096  # truncate_accuracy_log.py VIEWABLE_SIZE: head and tail kept
TRUNCATE_MARKER = "\n\n...\n\n"  # what truncate_accuracy_log.py puts between head and tail
ACCURACY_FILES = (
    "accuracy.txt",
    "mlperf_log_accuracy.json",
    "mlperf_log_detail.txt",
    "mlperf_log_summary.txt",
)
PERFORMANCE_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt")
MEASUREMENT_FILES = ("README.md", "user.conf")  # REQUIRED_MEASURE_FILES
VALID_STATUSES = ("available", "preview", "rdi")
VALID_SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
# Since v5.0 BERT is an edge benchmark: a "datacenter" system has no bert-99 scenario to submit.
BERT_SYSTEM_TYPES = ("edge", "datacenter,edge", "edge,datacenter")
# Required scenarios of bert-99/bert-99.9 for edge systems (closed and network divisions only).
REQUIRED_SCENARIOS_CLOSED = ("Offline", "SingleStream")
# The accuracy.txt line the checker reads (ACC_PATTERN["F1"]) and its hash line.
F1_PATTERN = r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}"
HASH_PATTERN = r"^hash=([\w\d]+)$"

# SYSTEM_DESC_REQUIRED_FIELDS (35 keys) and the subset that must hold a non-empty value.
SYSTEM_REQUIRED_FIELDS = (
    "division",
    "submitter",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_storage_capacity",
    "host_storage_type",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "framework",
    "operating_system",
    "system_type",
    "other_software_stack",
    "host_processor_frequency",
    "host_processor_caches",
    "host_memory_configuration",
    "host_processor_interconnect",
    "host_networking",
    "host_networking_topology",
    "accelerator_frequency",
    "accelerator_host_interconnect",
    "accelerator_interconnect",
    "accelerator_interconnect_topology",
    "accelerator_memory_configuration",
    "accelerator_on-chip_memories",
    "cooling",
    "hw_notes",
    "sw_notes",
    "host_network_card_count",
    "system_type_detail",
)
SYSTEM_MEANINGFUL_FIELDS = (
    "division",
    "submitter",
    "system_type",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_memory_configuration",
    "host_storage_capacity",
    "host_storage_type",
    "host_networking",
    "host_network_card_count",
    "host_networking_topology",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "accelerator_host_interconnect",
    "accelerator_memory_configuration",
    "accelerator_interconnect",
    "cooling",
    "framework",
    "operating_system",
    "other_software_stack",
)
# The checker's final-report CSV multiplies these, so they must read as integers.
SYSTEM_INTEGER_FIELDS = ("number_of_nodes", "accelerators_per_node")
# measurements.json keys (SYSTEM_IMP_REQUIRED_FILES), each needing a non-empty value.
MEASUREMENTS_FIELDS = (
    "input_data_types",
    "retraining",
    "starting_weights_filename",
    "weight_data_types",
    "weight_transformations",
)

# Units of the headline result per scenario (checker UNIT_DICT) and the detail-log key holding it.
UNITS = {
    "Offline": "Samples/s",
    "Server": "Queries/s",
    "SingleStream": "Latency (ms)",
    "MultiStream": "Latency (ms)",
}
RESULT_KEYS = {
    "Offline": "result_samples_per_second",
    "Server": "result_completed_samples_per_sec",
    "SingleStream": "early_stopping_latency_ss",
    "MultiStream": "early_stopping_latency_ms",
}

# Columns of the checker's summary CSV (results.py ResultExporter at v6.x; v5.1 lacks the last
# three), which generate_final_report.py turns into the published final report.
_CSV_COLUMNS_V5 = (
    "Organization",
    "Availability",
    "Division",
    "SystemType",
    "SystemName",
    "Platform",
    "Model",
    "MlperfModel",
    "Scenario",
    "Result",
    "Accuracy",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "accelerator_model_name",
    "accelerators_per_node",
    "Location",
    "framework",
    "operating_system",
    "notes",
    "compliance",
    "errors",
    "version",
    "inferred",
    "has_power",
    "Units",
    "weight_data_types",
)
_CSV_COLUMNS_V6 = (
    *_CSV_COLUMNS_V5[:17],
    "total_accelerators",
    *_CSV_COLUMNS_V5[17:],
    "design_power_watts",
    "PrivateID",
)


@dataclass(frozen=True)
class CheckerVersion:
    """One submission-checker version: its tree layout and the loadgen it accepts."""

    name: str  # "v6.1"
    layout: str  # "v6": measurements and TEST01 inside results/, src/ | "v5": measurements/, code/
    seeds: dict[str, int]  # qsl_rng_seed, sample_index_rng_seed, schedule_rng_seed
    loadgen: str  # loadgen releases carrying these seeds (for messages)
    csv_columns: tuple[str, ...]

    @property
    def code_dir(self) -> str:
        return "src" if self.layout == "v6" else "code"


VERSIONS: dict[str, CheckerVersion] = {
    "v6.1": CheckerVersion(
        "v6.1",
        "v6",
        {
            "qsl_rng_seed": 2085463073848966840,
            "sample_index_rng_seed": 2747215439041700203,
            "schedule_rng_seed": 16159082839903944936,
        },
        "mlcommons-loadgen 6.0.16-6.0.17",
        _CSV_COLUMNS_V6,
    ),
    "v6.0": CheckerVersion(
        "v6.0",
        "v6",
        {
            "qsl_rng_seed": 2465351861681999779,
            "sample_index_rng_seed": 14276810075590677512,
            "schedule_rng_seed": 3936089224930324775,
        },
        "mlcommons-loadgen 6.0.5-6.0.15",
        _CSV_COLUMNS_V6,
    ),
    "v5.1": CheckerVersion(
        "v5.1",
        "v5",
        {
            "qsl_rng_seed": 1780908523862526354,
            "sample_index_rng_seed": 14771362308971278857,
            "schedule_rng_seed": 18209322760996052031,
        },
        "mlcommons-loadgen 5.1.x",
        _CSV_COLUMNS_V5,
    ),
}


def checker_version(name: str) -> CheckerVersion:
    """The table entry for `name`; ConfigError naming the allowed versions otherwise."""
    from bert_sweep.errors import field_error

    if name not in VERSIONS:
        raise field_error("version", name, f"one of {sorted(VERSIONS)}")
    return VERSIONS[name]


def version_for_seeds(seeds: dict[str, int | None]) -> str | None:
    """The checker version whose seeds these are (None when no version matches)."""
    for name, version in VERSIONS.items():
        if all(seeds.get(k) == v for k, v in version.seeds.items()):
            return name
    return None


def benchmark_name(target: float) -> str:
    """bert-99 / bert-99.9 from the accuracy target fraction."""
    from bert_sweep.errors import field_error

    if target not in BENCHMARKS:
        raise field_error("target", target, "0.99 (bert-99) or 0.999 (bert-99.9)")
    return BENCHMARKS[target]


def accuracy_target_f1(benchmark: str) -> float:
    """The closed-division F1 bound: the fp32 reference times 0.99 or 0.999."""
    fraction = {v: k for k, v in BENCHMARKS.items()}[benchmark]
    return REFERENCE_F1 * fraction
