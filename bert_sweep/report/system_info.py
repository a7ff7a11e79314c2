"""What machine and software a run used: recorded in results.json, tracking and submissions."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# The tool's own stack; each backend's engine packages come from the backend list.
PACKAGES = (
    "bert_sweep",
    "mlcommons-loadgen",
    "onnx",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "hydra-core",
    "omegaconf",
    "optuna",
    "mlflow",
)


def package_versions() -> dict[str, str]:
    from bert_sweep.backends.registry import engine_packages

    out = {}
    for name in dict.fromkeys([*PACKAGES, *engine_packages()]):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def framework(backend: str | None, packages: dict, backend_info: dict | None) -> str:
    """`<package> <version>` of a backend's engine (its config's ENGINE_PACKAGE), for the
    systems JSON, results and tracking; else the backend's own engine version."""
    from bert_sweep.backends.registry import by_name

    backend = str(backend or "")
    cls = by_name(backend)
    package = cls.ENGINE_PACKAGE if cls is not None else None
    version = packages.get(package or "")
    if package and version:
        return f"{package} {version}"
    engine = (backend_info or {}).get("engine_version")
    return f"{backend} {engine}".strip() if engine and engine != "n/a" else backend or "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


def _physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1


def _accelerators() -> list[str]:
    """NVIDIA GPUs via nvidia-smi's CSV query (structured output, not scraped text)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _os_name() -> str:
    try:
        info = platform.freedesktop_os_release()
        return f"{info.get('PRETTY_NAME', info.get('NAME', 'Linux'))} (kernel {platform.release()})"
    except OSError:
        return f"{platform.system()} {platform.release()}"


@lru_cache(maxsize=1)
def system_info() -> dict:
    accelerators = _accelerators()
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "cpu_physical_cores": _physical_cores(),
        "cpu_logical_cores": os.cpu_count() or 1,
        "memory_gb": _memory_gb(),
        "accelerators": accelerators,
        "accelerator_count": len(accelerators),
        "os": _os_name(),
        "python": platform.python_version(),
    }


def git_commit(root: Path) -> str | None:
    """The project's commit, read from .git without running git (None outside a checkout)."""
    git = Path(root) / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                return ref_file.read_text().strip()
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
            return None
        return head
    except OSError:
        return None
