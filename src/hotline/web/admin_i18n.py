"""Russian texts of the recordings, reports and administration pages (merged into ``MESSAGES_RU``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from hotline.reports.labels_ru import OUTCOME_LABELS

__all__ = ["ADMIN_MESSAGES_RU"]

_OUTCOMES: Final = {f"outcome.{k}": v.capitalize() for k, v in OUTCOME_LABELS.items()}

ADMIN_MESSAGES_RU: Final[Mapping[str, str]] = MappingProxyType(
    {
        "nav.recordings": "Записи разговоров",
        # recordings
        "recordings.title": "Записи разговоров",
        "recordings.filter.since": "С",
        "recordings.filter.until": "По",
        "recordings.filter.number": "Номер",
        "recordings.filter.operator": "Оператор",
        "recordings.filter.topic": "Тематика",
        "recordings.filter.outcome": "Исход",
        "recordings.filter.any": "любой",
        "recordings.filter.submit": "Найти",
        "recordings.bad_filter": "Неверный период или фильтр (период — не более года).",
        "recordings.player": "Прослушивание",
        "recordings.channels": (
            "Левый канал — абонент, правый — оператор; в наушниках слышны оба."
        ),
        "recordings.reason": "Основание доступа к записи (обязательно, записывается в журнал)",
        "recordings.confirm": "Подтвердить",
        "recordings.cancel": "Отмена",
        "recordings.col.started": "Начало звонка",
        "recordings.col.caller": "Абонент",
        "recordings.col.operator": "Оператор",
        "recordings.col.topic": "Тематика",
        "recordings.col.outcome": "Исход",
        "recordings.col.duration": "Длительность, с",
        "recordings.deleted": "удалена по сроку хранения",
        "recordings.play": "Прослушать",
        "recordings.download": "Скачать",
        "recordings.empty": "Записей не найдено.",
        **_OUTCOMES,
        # reports
        "reports.since": "С",
        "reports.until": "По",
        "reports.interval": "Интервал",
        "reports.interval.15min": "15 минут",
        "reports.interval.30min": "30 минут",
        "reports.interval.60min": "1 час",
        "reports.interval.day": "сутки",
        "reports.interval.month": "месяц",
        "reports.show": "Показать",
        "reports.timezone": "Время указано по часовому поясу {zone}.",
        "reports.bad_period": "Неверный период (не более 93 суток); показан текущий день.",
        "reports.export": "Выгрузка",
        "reports.export.summary": "Сводный отчёт",
        "reports.export.staffing": "Потребность в операторах",
        "reports.export.calls": "Детализация вызовов",
        "reports.totals": "Итоги за период",
        "reports.charts": "Графики",
        "reports.chart.intervals": "Поступило, отвечено, брошено и не принято по интервалам; SL",
        "reports.chart.topics": "Звонки по тематикам",
        "reports.chart.operators": "Обработано операторами",
        "reports.chart.time_axis": "Начало интервала ({zone})",
        "reports.staffing": "Потребность в операторах",
        "reports.staffing.note": (
            "Нужно операторов по Эрлангу C для целевого уровня обслуживания 80 % в пределах "
            "нормы очереди; «в графике» — с учётом 30 % потерь рабочего времени."
        ),
        "reports.staffing.empty": "За период звонков в очереди не было.",
        "reports.col.offered": "Поступило в очередь",
        "reports.col.answered": "Отвечено",
        "reports.col.answered_within_norm": "Отвечено в пределах нормы",
        "reports.col.abandoned": "Брошено",
        "reports.col.short_abandoned": "Короткие сбросы",
        "reports.col.timed_out": "Не принято: превышена предельная норма ожидания",
        "reports.col.overflowed": "Переведено в другую очередь",
        "reports.col.callback": "Заказан обратный звонок",
        "reports.col.service_level": "Уровень обслуживания SL(T)",
        "reports.col.asa_s": "Среднее время ответа, с",
        "reports.col.abandon_rate": "Доля брошенных",
        "reports.col.timed_out_rate": "Доля непринятых по норме ожидания",
        "reports.col.aht_s": "Среднее время обслуживания, с",
        "reports.col.interval": "Интервал",
        "reports.col.queue": "Очередь",
        "reports.col.needed": "Нужно операторов",
        "reports.col.scheduled": "Нужно в графике",
        "reports.col.logged_in": "В системе: среднее (максимум)",
        "reports.col.shortfall": "Нехватка",
        # administration
        "admin.live.off": (
            "Узел не подключил применение на лету: изменения сохраняются в базе и "
            "вступят в силу после перезапуска."
        ),
        "admin.list": "Список",
        "admin.empty": "Пока пусто.",
        "admin.id": "Идентификатор",
        "admin.body": "Параметры (JSON)",
        "admin.file": "Файл WAV",
        "admin.flow.yaml": "Голосовое меню (YAML)",
        "admin.action.save": "Сохранить",
        "admin.action.create": "Создать",
        "admin.action.delete": "Удалить",
        "admin.action.disable": "Отключить",
        "admin.action.check": "Проверить",
        "admin.action.upload": "Загрузить",
        "admin.action.tts": "Синтезировать из текста",
        "admin.action.sip_password": "Задать SIP-пароль",
        "admin.action.reset_password": "Сбросить пароль",
        "admin.action.status": "Изменить статус",
        "admin.result.saved": "Сохранено.",
        "admin.result.applied": "Применено без перезапуска.",
        "admin.result.restart": "Вступит в силу после перезапуска узла.",
        "admin.result.valid": "Ошибок не найдено.",
        "admin.result.node": "узел",
        "admin.result.bad_json": "Параметры должны быть корректным JSON.",
        "admin.queues.title": "Очереди",
        "admin.operators.title": "Операторы",
        "admin.users.title": "Пользователи и роли",
        "admin.flows.title": "Голосовое меню",
        "admin.prompts.title": "Звуковые сообщения",
        "admin.organisations.title": "Справочник организаций",
        "admin.answers.title": "Типовые ответы",
        "admin.trunks.title": "Линии связи (SIP-транки)",
        "admin.proposals.title": "Реестр предложений",
        "admin.live.queues": "Все параметры очереди; применяются сразу, ожидающие звонки сохраняют места.",
        "admin.live.operators": (
            "Навыки и учётные записи применяются сразу; SIP-пароль хранится только в виде HA1 "
            "и действует со следующей регистрации телефона."
        ),
        "admin.live.users": ("Отключение пользователя и смена пароля завершают его сеансы сразу."),
        "admin.live.flows": (
            "Меню проверяется перед сохранением (ошибки указывают узел); новые звонки идут "
            "по новому меню сразу, звонки в меню заканчивают его по прежнему."
        ),
        "admin.live.prompts": (
            "Файл WAV один раз преобразуется в 8 кГц моно; сообщение доступно меню по идентификатору."
        ),
        "admin.live.organisations": (
            "Применяются сразу: и для оператора, и для переадресации из голосового меню."
        ),
        "admin.live.answers": (
            "Оператор видит изменения сразу; голосовой помощник — после перезапуска."
        ),
        "admin.live.trunks": (
            "Доверенные сети применяются сразу; маршрутизация звонков — после перезапуска."
        ),
        "admin.live.proposals": (
            "Статусы: новое → на рассмотрении → принято / отклонено → реализовано."
        ),
    }
)
