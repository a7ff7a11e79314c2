"""Render loadgen's `user.conf` from a settings mapping, refusing what loadgen would ignore.

Loadgen's config parser (`TestSettings::FromConfig` in loadgen 6.0.17, test_settings_internal.cc)
never complains about an unknown key or a key scoped to another scenario: it silently ignores it,
and it reads some keys with `strtoull`, so `target_latency = 130.5` for Server quietly becomes 130.
A typo in a sweep would therefore run the wrong test without a word. This module knows exactly
which keys loadgen reads from user.conf, for which scenario and as which number type, and raises
`ConfigError` for anything else.

Times are in milliseconds, as in loadgen's config files (`target_latency`, `min_duration`, ...).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bert_sweep.errors import ConfigError, field_error
from bert_sweep.harness.spec import SCENARIOS

_ALL = frozenset(SCENARIOS)
_LATENCY = frozenset({"SingleStream", "MultiStream", "Server"})
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class _Key:
    """How loadgen reads one user.conf key."""

    kind: str  # "int" (strtoull), "float" (strtod), "flag" (0/1), "percent" (0 < v <= 100)
    scenarios: frozenset[str]
    zero_ok: bool = False  # 0 has a meaning in loadgen (no limit / use the QSL's count)
    what: str = ""


# Keys loadgen's FromConfig reads from user.conf (conf_type 1), by scenario. Keys scoped to one
# scenario in loadgen (lookupkv(model, "Server", ...)) are only honoured in that scenario.
USER_CONF_KEYS: dict[str, _Key] = {
    "min_duration": _Key("int", _ALL, zero_ok=True, what="ms, 0 = end at min_query_count"),
    "max_duration": _Key("int", _ALL, zero_ok=True, what="ms, 0 = no limit"),
    "min_query_count": _Key("int", _ALL),
    "max_query_count": _Key("int", _ALL, zero_ok=True, what="0 = no limit"),
    "performance_sample_count_override": _Key("int", _ALL, zero_ok=True, what="0 = QSL count"),
    "accuracy_sample_count_override": _Key("int", _ALL, zero_ok=True, what="0 = QSL count"),
    "performance_issue_unique": _Key("flag", _ALL),
    "performance_issue_same": _Key("flag", _ALL),
    "performance_issue_same_index": _Key("int", _ALL, zero_ok=True),
    "sample_concatenate_permutation": _Key("flag", _ALL),
    "print_timestamps": _Key("flag", _ALL),
    "use_token_latencies": _Key("flag", _ALL),
    "infer_token_latencies": _Key("flag", _ALL),
    "token_latency_scaling_factor": _Key("int", _ALL),
    "target_qps": _Key("float", frozenset({"Offline", "Server"})),
    "target_latency_percentile": _Key("percent", _LATENCY),
    "samples_per_query": _Key("int", frozenset({"MultiStream"})),
    "coalesce_queries": _Key("flag", frozenset({"Server"})),
    "max_async_queries": _Key("int", frozenset({"Server"}), zero_ok=True, what="0 = unlimited"),
    "ttft_latency": _Key("int", frozenset({"Server"}), what="ms"),
    "tpot_latency": _Key("int", frozenset({"Server"}), what="ms"),
}

# target_latency is a double for SingleStream/MultiStream but strtoull'd for Server.
_TARGET_LATENCY = {
    "SingleStream": _Key("float", frozenset({"SingleStream"}), what="ms"),
    "MultiStream": _Key("float", frozenset({"MultiStream"}), what="ms"),
    "Server": _Key("int", frozenset({"Server"}), what="ms, integer for Server"),
}

# Keys loadgen knows but that user.conf must not (or cannot) set, with the reason.
_REFUSED = {
    "mode": "the harness sets the test mode",
    "qsl_rng_seed": "only mlperf.conf sets the rng seeds (user.conf values are ignored)",
    "sample_index_rng_seed": "only mlperf.conf sets the rng seeds (user.conf values are ignored)",
    "schedule_rng_seed": "only mlperf.conf sets the rng seeds (user.conf values are ignored)",
    "accuracy_log_probability": "only mlperf.conf sets it (user.conf values are ignored)",
    "accuracy_log_rng_seed": "it belongs in a compliance audit.config, not user.conf",
    "accuracy_log_sampling_target": "it belongs in a compliance audit.config, not user.conf",
}

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _key_spec(key: str, scenario: str) -> _Key:
    if key in _REFUSED:
        raise ConfigError(f"user.conf key {key!r}: not allowed here, {_REFUSED[key]}")
    if key == "target_latency":
        if scenario not in _TARGET_LATENCY:
            raise ConfigError(
                f"user.conf key 'target_latency': loadgen ignores it for {scenario}; "
                f"expected one of {sorted(_TARGET_LATENCY)}"
            )
        return _TARGET_LATENCY[scenario]
    spec = USER_CONF_KEYS.get(key)
    if spec is None:
        known = sorted([*USER_CONF_KEYS, "target_latency"])
        raise ConfigError(f"user.conf key {key!r}: unknown to loadgen; expected one of {known}")
    if scenario not in spec.scenarios:
        raise ConfigError(
            f"user.conf key {key!r}: loadgen ignores it for {scenario}; "
            f"it applies to {sorted(spec.scenarios)}"
        )
    return spec


def _format_value(key: str, value: object, spec: _Key) -> str:
    """Check one value against its key's type and range; return the text loadgen will parse."""
    field = f"user.conf {key}"
    if spec.kind == "flag":
        if isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1)):
            return "1" if value else "0"
        raise field_error(field, value, "a boolean or 0/1")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise field_error(field, value, f"a number ({spec.what or spec.kind})")
    number = float(value)
    if not math.isfinite(number):
        raise field_error(field, value, "a finite number")
    lowest = "a number >= 0" if spec.zero_ok else "a positive number"
    if number < 0 or (number == 0 and not spec.zero_ok):
        raise field_error(field, value, lowest + (f" ({spec.what})" if spec.what else ""))
    if spec.kind == "percent":
        if number > 100:
            raise field_error(field, value, "a percentile in (0, 100]")
        return _real_text(value, number)
    if spec.kind == "int":
        if isinstance(value, numbers.Integral):
            integer = int(value)
        elif number.is_integer():
            integer = int(number)
        else:
            raise field_error(field, value, f"a whole number ({spec.what or 'integer'})")
        if integer > _UINT64_MAX:
            raise field_error(field, value, "a value below 2**64")
        return str(integer)
    return _real_text(value, number)


def _real_text(value: object, number: float) -> str:
    """Integers as integers; floats by their shortest round-trip repr, which strtod reads back."""
    return str(int(value)) if isinstance(value, numbers.Integral) else repr(number)


def render_user_conf(model: str, scenario: str, settings: Mapping[str, object]) -> str:
    """Render `settings` as user.conf lines `model.scenario.key = value`, sorted by key.

    None values are skipped (a sweep's "leave loadgen's default"). Unknown keys, keys loadgen
    ignores for this scenario, and out-of-range or wrongly typed values raise ConfigError.
    """
    if not isinstance(model, str) or not _MODEL_RE.match(model):
        raise field_error("loadgen_model", model, "a loadgen model name such as 'bert'")
    if scenario not in SCENARIOS:
        raise field_error("scenario", scenario, f"one of {list(SCENARIOS)}")
    for key in settings:
        if not isinstance(key, str):
            raise field_error("user.conf key", key, "a string")
    lines = []
    for key in sorted(settings):
        value = settings[key]
        if value is None:
            continue
        text = _format_value(key, value, _key_spec(key, scenario))
        lines.append(f"{model}.{scenario}.{key} = {text}\n")
    return "".join(lines)
