"""The search space: declared in YAML (`hydra.sweeper.space`), extended from the command line.

Why our own format rather than Hydra's override grammar alone: parameters that exist only for
some backends (conditional) and choices that depend on the backend (trt takes fp16, onnx does not)
cannot be said with `choice(...)`. Each key maps to a mapping, or to a list of mappings (variants
with different conditions):

    space:
      backend: {choices: [onnx, trt]}
      batch: {choices: [8, 16, 32, 64]}             # categorical
      threads: {low: 1, high: 2}                    # int (step 1); floats give a float range
      backend.inter_op_threads: {low: 1, high: 2, when: {backend: onnx}}
      precision:                                    # variants: first active one applies
        - {choices: [fp32, int8], when: {backend: onnx}}
        - {choices: [fp16, int8], when: {backend: trt}}

`when` names keys declared earlier (or pinned on the command line) and the values for which the
parameter exists. Sweep overrides on the command line (`batch=8,16`, `choice(..)`, `range(..)`,
`interval(..)`, `tag(log, interval(..))`) add or replace a key; a plain override (`batch=32`)
pins it. Keys are Hydra override keys: group names (`backend`) select a config file.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bert_sweep.errors import ConfigError

FIELD = "hydra.sweeper.space"
# Enumerating a discrete space (to notice it is exhausted) stops beyond this many points.
MAX_ENUMERATION = 100_000
_SCALARS = (bool, int, float, str)
_SPECIAL = set(" ,()[]{}='\"\\:")


def format_value(value: Any) -> str:
    """A value as Hydra's override grammar reads it back (bools/None lower case, quoting)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if text == "" or _SPECIAL & set(text):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def canonical(params: Mapping[str, Any]) -> str:
    """Order-independent text of a parameter assignment (to compare proposals)."""
    return json.dumps(dict(sorted(params.items())), sort_keys=True, default=str)


@dataclass(frozen=True)
class Param:
    """One searchable key (or one variant of it) and the distribution it is drawn from."""

    key: str  # Hydra override key, e.g. "batch", "backend.inter_op_threads"
    name: str  # Optuna parameter name (the key, or key|conditions for a variant)
    kind: str  # categorical | int | float
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    when: tuple[tuple[str, tuple], ...] = ()

    def active(self, chosen: Mapping[str, Any]) -> bool:
        return all(k in chosen and chosen[k] in values for k, values in self.when)

    def distribution(self):
        import optuna.distributions as d

        if self.kind == "categorical":
            return d.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return d.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=self.step or 1
            )
        return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=self.step or 1, log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def values(self) -> list | None:
        """Every value of a discrete distribution; None for a continuous one."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        if self.step:
            n = math.floor((self.high - self.low) / self.step + 1e-9)
            return [self.low + i * self.step for i in range(n + 1)]
        return None

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and int(value) != value:
            return False
        return self.low <= value <= self.high


def _err(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{FIELD}.{key}={value!r}: expected {expected}")


def _number(key: str, name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(f"{key}.{name}", value, "a number")
    return value


def _conditions(key: str, when: Any, declared: Mapping[str, list | None]) -> tuple:
    if when is None:
        return ()
    if not isinstance(when, Mapping) or not when:
        raise _err(f"{key}.when", when, "a mapping {key: value or [values]}")
    out = []
    for ckey, allowed in when.items():
        if ckey not in declared:
            raise _err(f"{key}.when", ckey, f"a key declared before {key!r} or pinned")
        values = list(allowed) if isinstance(allowed, list | tuple) else [allowed]
        possible = declared[ckey]
        for v in values:
            if not isinstance(v, _SCALARS):
                raise _err(f"{key}.when.{ckey}", v, "a scalar or a list of scalars")
            if possible is not None and v not in possible:
                raise _err(f"{key}.when.{ckey}", v, f"one of {possible}")
        out.append((str(ckey), tuple(values)))
    return tuple(out)


def _variant_name(key: str, when: tuple) -> str:
    if not when:
        return key
    cond = ",".join(f"{k}={'/'.join(str(v) for v in vals)}" for k, vals in when)
    return f"{key}|{cond}"


def param_from_mapping(key: str, spec: Any, declared: Mapping[str, list | None]) -> Param:
    """Build one Param from its YAML mapping (ConfigError naming the field when malformed)."""
    if not isinstance(spec, Mapping):
        raise _err(key, spec, "a mapping with choices, or low/high (optional step, log, when)")
    unknown = set(spec) - {"choices", "low", "high", "step", "log", "when", "type"}
    if unknown:
        raise _err(key, sorted(unknown)[0], "keys among choices/low/high/step/log/when/type")
    when = _conditions(key, spec.get("when"), declared)
    name = _variant_name(key, when)
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            raise _err(f"{key}.choices", choices, "a non-empty list")
        for c in choices:
            if not (c is None or isinstance(c, _SCALARS)):
                raise _err(f"{key}.choices", c, "scalars (str, int, float, bool, null)")
        if len({canonical({"v": c}) for c in choices}) != len(choices):
            raise _err(f"{key}.choices", list(choices), "distinct values")
        return Param(key, name, "categorical", choices=tuple(choices), when=when)
    if "low" not in spec or "high" not in spec:
        raise _err(key, dict(spec), "either choices: [...] or low: and high:")
    low = _number(key, "low", spec["low"])
    high = _number(key, "high", spec["high"])
    step = spec.get("step")
    log = bool(spec.get("log", False))
    kind = spec.get("type") or (
        "int" if all(isinstance(v, int) for v in (low, high, step or 1)) else "float"
    )
    if kind not in ("int", "float"):
        raise _err(f"{key}.type", kind, "int or float for a low/high range")
    if low > high:
        raise _err(f"{key}.low", low, f"<= high ({high})")
    if step is not None and (_number(key, "step", step) <= 0 or (log and step != 1)):
        raise _err(f"{key}.step", step, "a number > 0 (and no step with log: true)")
    if log and low <= 0:
        raise _err(f"{key}.low", low, "> 0 with log: true")
    if log and kind == "float":
        step = None
    if kind == "int":
        low, high = int(low), int(high)
        step = int(step) if step is not None else None
    else:
        low, high = float(low), float(high)
    return Param(key, name, kind, low=low, high=high, step=step, log=log, when=when)


def param_from_sweep(key: str, sweep: Any) -> Param:
    """A Hydra sweep override (`a,b`, choice, range, interval, tag(log, ...)) as a Param."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    log = "log" in getattr(sweep, "tags", set())
    if isinstance(sweep, ChoiceSweep):
        return param_from_mapping(key, {"choices": list(sweep.list)}, {})
    if isinstance(sweep, RangeSweep):
        if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            high = sweep.stop - 1 if sweep.step > 0 else sweep.stop + 1
            low, high = min(sweep.start, high), max(sweep.start, high)
            return param_from_mapping(
                key, {"low": low, "high": high, "step": abs(sweep.step), "log": log}, {}
            )
        values = [float(v) for v in sweep.range()] if hasattr(sweep, "range") else []
        return param_from_mapping(key, {"choices": values}, {})
    if isinstance(sweep, IntervalSweep):
        return param_from_mapping(
            key, {"low": float(sweep.start), "high": float(sweep.end), "log": log}, {}
        )
    raise _err(key, sweep, "a choice, range or interval sweep")


class SearchSpace:
    """Ordered parameters (with variants), pinned values, and sample -> overrides."""

    def __init__(self, params: Sequence[Param], pinned: Mapping[str, Any] | None = None) -> None:
        self.params = list(params)
        self.pinned = dict(pinned or {})
        if not self.params:
            raise ConfigError(
                f"{FIELD}: expected at least one parameter to search (YAML or a sweep override)"
            )

    @classmethod
    def build(
        cls,
        space: Mapping[str, Any] | None,
        sweeps: Mapping[str, Any] | None = None,
        pinned: Mapping[str, Any] | None = None,
    ) -> SearchSpace:
        """From the YAML mapping, command-line sweeps (replace/add keys) and pins (remove keys)."""
        pinned = dict(pinned or {})
        sweeps = dict(sweeps or {})
        # A pinned key may hold any value a condition names (the condition is then just false).
        declared: dict[str, list | None] = dict.fromkeys(pinned)
        params: list[Param] = []
        for key, spec in dict(space or {}).items():
            key = str(key)
            if key in pinned:
                continue
            if key in sweeps:
                param = param_from_sweep(key, sweeps.pop(key))
                params.append(param)
                declared[key] = param.values()
                continue
            variants = spec if isinstance(spec, list | tuple) else [spec]
            if not variants:
                raise _err(key, spec, "a mapping or a non-empty list of variants")
            built = [param_from_mapping(key, v, declared) for v in variants]
            if len({p.name for p in built}) != len(built):
                raise _err(key, spec, "variants with different `when` conditions")
            for p in built:
                if len(built) > 1 and not p.when:
                    raise _err(key, spec, "a `when:` condition on every variant")
            if len(built) == 1:  # one variant: Optuna knows it by its key alone
                built = [dataclasses.replace(built[0], name=key)]
            params += built
            values = [p.values() for p in built]
            declared[key] = (
                None if any(v is None for v in values) else list(itertools.chain(*values))
            )
        for key, sweep in sweeps.items():
            params.append(param_from_sweep(key, sweep))
        return cls(params, pinned)

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(p.key for p in self.params))

    def sample(self, trial) -> dict[str, Any]:
        """Draw one assignment {key: value} through an Optuna trial (define-by-run)."""
        chosen: dict[str, Any] = dict(self.pinned)
        drawn: dict[str, Any] = {}
        for p in self.params:
            if p.key in chosen or not p.active(chosen):
                continue
            chosen[p.key] = drawn[p.key] = p.suggest(trial)
        return drawn

    def enumerate(self) -> list[dict[str, Any]] | None:
        """Every assignment of a discrete space (None if continuous or too large)."""
        points: list[dict[str, Any]] = [{}]
        for p in self.params:
            values = p.values()
            if values is None:
                return None
            nxt = []
            for point in points:
                scope = self.pinned | point
                if p.key in point or not p.active(scope):
                    nxt.append(point)
                else:
                    nxt += [point | {p.key: v} for v in values]
            points = nxt
            if len(points) > MAX_ENUMERATION:
                return None
        unique = {canonical(pt): pt for pt in points}
        return list(unique.values())

    def fit(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna params {name: value} for an assignment {key: value} (for enqueue_trial).

        Values outside a parameter's distribution are left out (the sampler draws them).
        """
        chosen: dict[str, Any] = dict(self.pinned)
        fixed: dict[str, Any] = {}
        for p in self.params:
            if p.key in chosen or not p.active(chosen) or p.key not in values:
                continue
            value = values[p.key]
            if p.contains(value):
                chosen[p.key] = fixed[p.name] = value
        return fixed

    @staticmethod
    def overrides(assignment: Mapping[str, Any]) -> list[str]:
        return [f"{k}={format_value(v)}" for k, v in assignment.items()]


def split_arguments(overrides: Iterable[Any]) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """Split parsed Hydra overrides into (fixed override lines, sweeps by key, pinned values).

    `pinned` holds plain `key=value` overrides (no +/~/++ prefix, not hydra.*) so that a key given
    on the command line is removed from the space and its value used by `when` conditions.
    """
    fixed: list[str] = []
    sweeps: dict[str, Any] = {}
    pinned: dict[str, Any] = {}
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override():
            if key.startswith(("+", "~")) or o.is_hydra_override():
                raise ConfigError(f"{o.input_line}: expected a plain key to search over")
            sweeps[key] = o.value()
            continue
        fixed.append(o.input_line)
        if not key.startswith(("+", "~")) and not o.is_hydra_override():
            value = o.value()
            if value is None or isinstance(value, _SCALARS):
                pinned[key] = value
    return fixed, sweeps, pinned
