"""Russian column headers and values of the report exports (the service's language).

Keys are the English field names used in JSON exports and in the code
(:class:`~hotline.reports.metrics_row.MetricRow` fields, CDR columns).  The
timed-out line ("не принято из-за превышения нормы ожидания", the decree's
wording) always has its own header, apart from abandoned calls.

Layer L1: pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["CDR_LABELS", "OUTCOME_LABELS", "STAFFING_LABELS", "SUMMARY_LABELS", "label"]

SUMMARY_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Group key.
        "interval_start": "Интервал",
        "queue_id": "Очередь",
        "topic": "Тематика",
        "operator_id": "Оператор",
        "trunk": "Линия",
        "direction": "Направление",
        # Queue outcomes.
        "offered": "Поступило в очередь",
        "answered": "Отвечено",
        "answered_within_norm": "Отвечено в пределах нормы",
        "abandoned": "Брошено",
        "short_abandoned": "Короткие сбросы",
        "timed_out": "Не принято: превышена норма ожидания",
        "overflowed": "Переведено в другую очередь",
        "callback": "Заказан обратный звонок",
        "left_empty": "Нет операторов в очереди",
        "left_full": "Очередь переполнена",
        "unresolved": "Без исхода",
        "callback_attempts": "Попытки обратного звонка",
        "callbacks_completed": "Обратные звонки выполнены",
        # Service metrics.
        "service_level": "Уровень обслуживания",
        "service_level_answered_only": "Уровень обслуживания (только отвеченные)",
        "asa_s": "Среднее время ответа (ASA), с",
        "longest_wait_s": "Макс. ожидание, с",
        "time_to_operator_p50_s": "Время до оператора, медиана, с",
        "time_to_operator_p90_s": "Время до оператора, 90-й процентиль, с",
        "time_to_operator_max_s": "Время до оператора, макс., с",
        "abandon_rate": "Доля брошенных",
        "timed_out_rate": "Доля не принятых по норме ожидания",
        # Handling.
        "handled": "Обслужено",
        "talk_s": "Разговор, с",
        "hold_s": "Удержание, с",
        "wrapup_s": "Поствызывная обработка, с",
        "aht_s": "Среднее время обслуживания (AHT), с",
        # Operator time.
        "work_s": "Время работы с вызовами, с",
        "ready_idle_s": "Время в готовности без вызова, с",
        "logged_in_s": "Время в системе, с",
        "occupancy": "Занятость",
        "utilisation": "Использование",
        # Whole calls.
        "calls": "Входящих вызовов",
        "bot_calls": "Вызовов с голосовым помощником",
        "bot_contained": "Решено голосовым помощником",
        "bot_containment": "Доля решённых помощником",
        "ivr_self_served": "Обслужено в IVR",
        "ivr_self_service": "Доля обслуженных в IVR",
        "repeat_calls": "Повторные вызовы",
        "repeat_rate": "Доля повторных вызовов",
        "outbound_calls": "Исходящих вызовов",
        "outbound_answered": "Исходящих отвечено",
        "outbound_failed": "Исходящих не состоялось",
    }
)

CDR_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "call_id": "Идентификатор вызова",
        "started_at": "Начало",
        "answered_at": "Ответ оператора",
        "ended_at": "Окончание",
        "caller": "Номер абонента",
        "called": "Набранный номер",
        "trunk": "Линия",
        "direction": "Направление",
        "topic": "Тематика",
        "queues": "Очереди",
        "operator_id": "Оператор",
        "wait_s": "Ожидание, с",
        "talk_s": "Разговор, с",
        "hold_s": "Удержание, с",
        "duration_s": "Длительность, с",
        "outcome": "Исход",
        "hung_up_by": "Кто завершил",
        "end_cause": "Причина завершения",
        "recording_path": "Запись разговора",
    }
)

OUTCOME_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "answered": "отвечен",
        "abandoned": "брошен",
        "short_abandon": "короткий сброс",
        "timed_out": "не принят: превышена норма ожидания",
        "overflowed": "переведён в другую очередь",
        "callback": "заказан обратный звонок",
        "left_empty": "нет операторов",
        "left_full": "очередь переполнена",
        "unresolved": "без исхода",
        "self_service": "обслужен автоматически",
        "outbound_answered": "исходящий, отвечен",
        "outbound_failed": "исходящий, не состоялся",
        "in_progress": "продолжается",
        "inbound": "входящий",
        "outbound": "исходящий",
        "caller": "абонент",
        "operator": "оператор",
        "system": "система",
    }
)


STAFFING_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "traffic_erlangs": "Нагрузка, Эрл",
        "norm_s": "Норма ожидания, с",
        "sl_target": "Целевой уровень обслуживания",
        "erlang_c_agents": "Нужно операторов (Эрланг C)",
        "erlang_c_service_level": "Уровень обслуживания при этом числе",
        "patience_s": "Терпение абонентов, с",
        "erlang_a_agents": "Нужно операторов (Эрланг A)",
        "scheduled_agents": "Нужно в графике (с учётом потерь времени)",
        "logged_in_avg": "В системе операторов, среднее",
        "logged_in_max": "В системе операторов, максимум",
        "shortfall": "Нехватка операторов",
    }
)


def label(key: str) -> str:
    """The Russian header of ``key`` (the key itself when it has none)."""
    return SUMMARY_LABELS.get(key) or CDR_LABELS.get(key) or STAFFING_LABELS.get(key) or key
