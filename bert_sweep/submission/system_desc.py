"""The systems/<system>.json description: every field the checker requires, from the machine.

Detected: CPU model, sockets, cores, caches and frequency (/proc, /sys), memory, storage of the
output folder (capacity; SSD/HDD from the block device's `rotational` flag), NICs, accelerators
used (GPUs only when the run's device is cuda), OS, framework and software versions (from the
run's results.json, written on the machine that ran it). What cannot be detected without root
(DIMM layout, cooling) is stated as such, never invented; every field can be overridden with
`system.<field>=...` in the submit config.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from bert_sweep.report.record import RunRecord
from bert_sweep.submission.versions import SYSTEM_REQUIRED_FIELDS

_SOFTWARE = ("mlcommons-loadgen", "numpy", "onnx", "transformers", "tokenizers", "hydra-core")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_sockets() -> int:
    """Distinct `physical id`s in /proc/cpuinfo (1 when the kernel does not say)."""
    text = _read(Path("/proc/cpuinfo")) or ""
    ids = {
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("physical id")
    }
    return max(len(ids), 1)


def cpu_frequency() -> str:
    """Maximum frequency from cpufreq, else the current `cpu MHz` of /proc/cpuinfo."""
    khz = _read(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))
    if khz and khz.isdigit():
        return f"{int(khz) / 1e6:.2f} GHz"
    for line in (_read(Path("/proc/cpuinfo")) or "").splitlines():
        if line.startswith("cpu MHz"):
            try:
                return f"{float(line.split(':', 1)[1]) / 1000:.2f} GHz (current)"
            except ValueError:
                break
    return ""


def cpu_caches() -> str:
    """`L1d 32K, L1i 32K, L2 512K, L3 32768K` from cpu0's cache index folders."""
    parts = []
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        level, kind, size = (_read(index / n) for n in ("level", "type", "size"))
        if level and size:
            suffix = {"Data": "d", "Instruction": "i"}.get(kind or "", "")
            parts.append(f"L{level}{suffix} {size}")
    return ", ".join(parts)


def storage(path: Path) -> tuple[str, str]:
    """(capacity, type) of the filesystem holding `path`: `N GB`, `SSD`/`HDD` when known."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    capacity = f"{shutil.disk_usage(probe).total / 1e9:.0f} GB"
    kind = "not detected"
    try:
        dev = os.stat(probe).st_dev
        block = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve()
        for folder in (block, block.parent):
            flag = _read(folder / "queue" / "rotational")
            if flag in ("0", "1"):
                kind = "SSD" if flag == "0" else "HDD"
                break
    except OSError:
        pass
    return capacity, kind


def network_cards() -> int:
    """Network interfaces backed by a device (not lo, bridges or other virtual ones)."""
    net = Path("/sys/class/net")
    try:
        return sum(1 for nic in net.iterdir() if (nic / "device").exists())
    except OSError:
        return 0


def framework(results: RunRecord) -> str:
    """`<package> <version>` of the backend's engine (its config's ENGINE_PACKAGE)."""
    from bert_sweep.report.system_info import framework as framework_of

    return framework_of(results.backend, results.packages, results.backend_info)


def other_software(results: RunRecord) -> str:
    packages = results.packages
    system = results.system
    parts = [f"Python {system['python']}"] if system.get("python") else []
    parts.append(f"bert_sweep {packages.get('bert_sweep', '?')}")
    parts += [f"{name} {packages[name]}" for name in _SOFTWARE if name in packages]
    return ", ".join(parts)


def _memory(gb: Any) -> str:
    return f"{gb:g} GB" if isinstance(gb, int | float) else "not detected"


def describe_system(
    results: RunRecord,
    *,
    division: str,
    submitter: str,
    system_name: str,
    system_type: str,
    status: str,
    storage_path: Path,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The systems JSON (all SYSTEM_DESC_REQUIRED_FIELDS) for the machine that ran `results`."""
    system = results.system
    config = results.config or {}
    device = str(results.device or (config.get("device") or {}).get("name") or "cpu")
    sockets = cpu_sockets()
    cores = system.get("cpu_physical_cores") or os.cpu_count() or 1
    accelerators = list(system.get("accelerators") or []) if device != "cpu" else []
    capacity, kind = storage(storage_path)
    memory = _memory(system.get("memory_gb"))
    backend_cfg = config.get("backend") or {}
    harness_cfg = config.get("harness") or {}
    sw_notes = (
        f"bert_sweep backend={results.backend} precision={results.precision} "
        f"batch={backend_cfg.get('batch_size')} device={device} "
        f"trim_padding={harness_cfg.get('trim_padding')} "
        f"sort_by_length={harness_cfg.get('sort_by_length')} workers={harness_cfg.get('workers')}"
    )
    desc: dict[str, Any] = {
        "division": division,
        "submitter": submitter,
        "status": status,
        "system_name": system_name,
        "system_type": system_type,
        "system_type_detail": "single-node host",
        "number_of_nodes": 1,
        "host_processor_model_name": system.get("cpu_model") or "not detected",
        "host_processors_per_node": sockets,
        "host_processor_core_count": max(int(cores) // sockets, 1),
        "host_processor_frequency": cpu_frequency(),
        "host_processor_caches": cpu_caches(),
        "host_processor_interconnect": "",
        "host_memory_capacity": memory,
        "host_memory_configuration": f"{memory} total (DIMM layout not detected)",
        "host_storage_capacity": capacity,
        "host_storage_type": kind,
        "host_networking": "not used by the benchmark (single node)",
        "host_networking_topology": "N/A (single node)",
        "host_network_card_count": str(network_cards()),
        # The checker wants a non-empty value here: CPU-only systems write the string "0".
        "accelerators_per_node": len(accelerators) or "0",
        "accelerator_model_name": ", ".join(sorted(set(accelerators))) or "N/A",
        "accelerator_memory_capacity": "N/A" if not accelerators else "not detected",
        "accelerator_memory_configuration": "N/A" if not accelerators else "not detected",
        "accelerator_frequency": "",
        "accelerator_host_interconnect": "N/A" if not accelerators else "PCIe (not detected)",
        "accelerator_interconnect": "N/A" if not accelerators else "not detected",
        "accelerator_interconnect_topology": "",
        "accelerator_on-chip_memories": "",
        "cooling": "not detected",
        "framework": framework(results),
        "operating_system": system.get("os") or "not detected",
        "other_software_stack": other_software(results),
        "hw_notes": (
            f"detected by bert_sweep on host {system.get('hostname', '?')}; storage type from "
            "the kernel's rotational flag; DIMM layout and cooling are not detectable here"
        ),
        "sw_notes": sw_notes,
    }
    desc.update(overrides or {})
    missing = [k for k in SYSTEM_REQUIRED_FIELDS if k not in desc]
    assert not missing, f"system description lacks {missing}"  # the table above is complete
    return desc


def default_system_name(results: RunRecord) -> str:
    """`<CPU model> (<n> cores), <framework>`: a readable name when none is configured."""
    system = results.system
    cpu = system.get("cpu_model") or "CPU"
    cores = system.get("cpu_physical_cores")
    core_text = f" ({cores} cores)" if cores else ""
    return f"{cpu}{core_text}, {framework(results)}"


def system_id_from_name(name: str) -> str:
    """A folder-safe id: runs of other characters become `_` (`AMD EPYC (2 cores)` -> ...)."""
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_.")
    return text or "system"
