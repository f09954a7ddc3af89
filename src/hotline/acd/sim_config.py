"""A queue configuration from a plain mapping (a parsed YAML file) for the simulator.

The keys are exactly the fields of :class:`~hotline.acd.model.QueueConfig`;
every value is converted to the field's type and then validated by the model
itself, so the simulator runs the configuration the live router would.  Any
problem raises :class:`~hotline.core.errors.ConfigurationError` whose
``setting`` names the field (``tiers[1].min_level``, ``max_wait_action.kind``
...).  Omitted fields keep the model's defaults, which are the demo
service's: a 20 s service-level norm and a 120 s maximum wait
(architecture.md, "The demo service").  ``queue_id``, ``name`` and ``topic``
default to ``sim``.

Value forms::

    sl_norm_s: 20                  # seconds (int or float)
    max_wait_s: null               # None where the model allows it ("no norm")
    max_wait_action: message_and_end          # or {kind: overflow, target: q2}
    when_empty: join               # or refuse
    tiers: [{after_s: 0, min_level: 6}, {after_s: 20, min_level: 1}]
    strategy: skills-based
    strategy_params: {by: level}
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from hotline.acd.model import (
    EmptyPolicy,
    ExitAction,
    ExitKind,
    QueueConfig,
    StrategyParam,
    TierRule,
)
from hotline.acd.strategies import default_registry
from hotline.core.errors import ConfigurationError
from hotline.core.ids import QueueId, TopicId

__all__ = ["DEFAULT_QUEUE_ID", "MAX_CONFIG_KEYS", "queue_config_from_mapping"]

DEFAULT_QUEUE_ID: Final = QueueId("sim")
MAX_CONFIG_KEYS: Final = 64
MAX_TIERS: Final = 10
MAX_TEXT: Final = 200

Converter = Callable[[str, object], object]
E = TypeVar("E", bound=enum.Enum)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _text(setting: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise ConfigurationError(setting, f"must be a text of 1..{MAX_TEXT} characters")
    return value


def _integer(setting: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(setting, f"must be a whole number, not {_type_name(value)}")
    return value


def _seconds(setting: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(setting, f"must be a number of seconds, not {_type_name(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigurationError(setting, "must be a finite number of seconds")
    return number


def _flag(setting: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(setting, f"must be true or false, not {_type_name(value)}")
    return value


def _optional(convert: Converter) -> Converter:
    def optional(setting: str, value: object) -> object:
        return None if value is None else convert(setting, value)

    return optional


def _member(kind: type[E], setting: str, value: object) -> E:
    names = [str(member.value) for member in kind]
    if not isinstance(value, str) or value not in names:
        raise ConfigurationError(setting, f"must be one of {', '.join(names)}")
    return kind(value)


def _choice(kind: type[enum.Enum]) -> Converter:
    def choice(setting: str, value: object) -> object:
        return _member(kind, setting, value)

    return choice


def _action(setting: str, value: object) -> ExitAction:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping):
        raise ConfigurationError(setting, "must be an action name or {kind: ..., target: ...}")
    unknown = sorted(str(k) for k in value if k not in ("kind", "target"))
    if unknown:
        raise ConfigurationError(f"{setting}.{unknown[0]}", "unknown key (expected kind, target)")
    kind = _member(ExitKind, f"{setting}.kind", value.get("kind"))
    target = value.get("target")
    target = None if target is None else _text(f"{setting}.target", target)
    try:
        return ExitAction(kind, target)
    except ConfigurationError as exc:
        raise ConfigurationError(setting, exc.problem) from None


def _tiers(setting: str, value: object) -> tuple[TierRule, ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_TIERS:
        raise ConfigurationError(setting, f"must be a list of 1..{MAX_TIERS} tiers")
    rules: list[TierRule] = []
    for number, item in enumerate(value):
        where = f"{setting}[{number}]"
        if not isinstance(item, Mapping) or set(item) != {"after_s", "min_level"}:
            raise ConfigurationError(where, "must be {after_s: seconds, min_level: 1..10}")
        after_s = _seconds(f"{where}.after_s", item["after_s"])
        min_level = _integer(f"{where}.min_level", item["min_level"])
        try:
            rules.append(TierRule(after_s, min_level))
        except ConfigurationError as exc:
            field = "after_s" if "after_s" in exc.problem else "min_level"
            raise ConfigurationError(f"{where}.{field}", exc.problem) from None
    return tuple(rules)


def _params(setting: str, value: object) -> dict[str, StrategyParam]:
    if not isinstance(value, Mapping) or len(value) > MAX_CONFIG_KEYS:
        raise ConfigurationError(setting, "must be a mapping of names to values")
    params: dict[str, StrategyParam] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ConfigurationError(setting, "names must be texts")
        if not isinstance(item, str | int | float | bool):
            raise ConfigurationError(f"{setting}.{key}", "must be a text, number or true/false")
        params[key] = item
    return params


_CONVERTERS: Final[Mapping[str, Converter]] = {
    "queue_id": _text,
    "name": _text,
    "topic": _text,
    "weight": _integer,
    "sl_norm_s": _seconds,
    "max_wait_s": _optional(_seconds),
    "max_wait_action": _action,
    "max_length": _optional(_integer),
    "full_action": _action,
    "when_empty": _choice(EmptyPolicy),
    "leave_when_empty_s": _optional(_seconds),
    "empty_action": _action,
    "wrap_up_s": _seconds,
    "ring_timeout_s": _seconds,
    "strategy": _text,
    "strategy_params": _params,
    "tiers": _tiers,
    "announce_interval_s": _optional(_seconds),
    "announce_on_entry": _flag,
    "announce_position": _flag,
    "announce_position_limit": _optional(_integer),
    "announce_wait": _flag,
    "announce_wait_limit_s": _optional(_seconds),
    "short_abandon_s": _seconds,
    "repeat_caller_bump": _integer,
    "default_handle_s": _seconds,
}


def queue_config_from_mapping(data: object) -> QueueConfig:
    """A validated :class:`QueueConfig` from ``data`` (None or {}: every default)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigurationError("queue", "the configuration must be a mapping of field: value")
    if len(data) > MAX_CONFIG_KEYS:
        raise ConfigurationError("queue", f"more than {MAX_CONFIG_KEYS} keys")
    known = {f.name for f in dataclasses.fields(QueueConfig)}
    values: dict[str, object] = {
        "queue_id": DEFAULT_QUEUE_ID,
        "name": "sim",
        "topic": TopicId("sim"),
    }
    for key, value in data.items():
        if not isinstance(key, str) or key not in known:
            raise ConfigurationError(str(key), "unknown field of a queue configuration")
        values[key] = _CONVERTERS[key](key, value)
    config = QueueConfig(**values)  # type: ignore[arg-type]  # each value converted above
    default_registry().create(config.strategy, config.strategy_params)
    return config
