"""User-facing text of the web workplace: a message catalogue, keys in English.

Every text a person reads (pages, error messages of the API) comes from
:data:`MESSAGES_RU` through :meth:`Catalogue.text`, in templates as the Jinja
global ``t("key", name=value)``.  Placeholders use :meth:`str.format` syntax.

A key missing from the catalogue is a *test* failure (the tests collect every
key used in templates and code, see tests/unit/web/test_web_i18n.py); at run
time the key itself is shown and a warning logged, never a ``KeyError``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from hotline.web.admin_i18n import ADMIN_MESSAGES_RU
from hotline.web.workplace_i18n import WORKPLACE_MESSAGES_RU

__all__ = ["MESSAGES_RU", "Catalogue"]

log = logging.getLogger(__name__)

MESSAGES_RU: Final[Mapping[str, str]] = MappingProxyType(
    {
        # the product
        "app.title": "Горячая линия 122",
        "app.skip_to_content": "Перейти к содержимому",
        # navigation (one entry per page of the workplace)
        "nav.desk": "Рабочее место оператора",
        "nav.wallboard": "Мониторинг очередей",
        "nav.reports": "Отчёты",
        "nav.audit": "Журнал аудита",
        "nav.admin": "Администрирование",
        "nav.api_docs": "Документация API",
        "nav.logout": "Выйти",
        "nav.user": "{name} ({role})",
        # roles
        "role.operator": "оператор",
        "role.supervisor": "старший смены",
        "role.administrator": "администратор",
        "role.auditor": "аудитор",
        # login
        "login.title": "Вход в систему",
        "login.username": "Имя пользователя",
        "login.password": "Пароль",
        "login.submit": "Войти",
        "login.logged_out": "Вы вышли из системы.",
        "login.session_expired": "Сеанс истёк, войдите снова.",
        # pages not built yet
        "page.home.title": "Главная",
        "page.home.empty": "Для вашей роли нет доступных разделов.",
        "page.desk.title": "Рабочее место оператора",
        "page.wallboard.title": "Мониторинг очередей",
        "page.reports.title": "Отчёты",
        "page.admin.title": "Администрирование",
        "page.forbidden.title": "Доступ запрещён",
        "page.not_found.title": "Страница не найдена",
        "page.docs.title": "Документация API",
        "page.docs.offline": (
            "Интерактивная документация недоступна: пакет Swagger UI не установлен. "
            "Схема OpenAPI: {url}"
        ),
        "page.docs.method": "Метод",
        "page.docs.path": "Путь",
        "page.docs.summary": "Описание",
        # the audit log page
        "audit.title": "Журнал аудита",
        "audit.filter.since": "С",
        "audit.filter.until": "По",
        "audit.filter.actor": "Пользователь",
        "audit.filter.action": "Действие",
        "audit.filter.submit": "Показать",
        "audit.col.seq": "№",
        "audit.col.at": "Время (UTC)",
        "audit.col.actor": "Пользователь",
        "audit.col.role": "Роль",
        "audit.col.action": "Действие",
        "audit.col.object": "Объект",
        "audit.col.source": "Адрес",
        "audit.col.reason": "Основание",
        "audit.col.details": "Подробности",
        "audit.empty": "Записей нет.",
        "audit.filter.invalid": (
            "Фильтр не применён: проверьте поле «{field}» (дата и время в формате "
            "ГГГГ-ММ-ДД ЧЧ:ММ, имя пользователя и действие — не длиннее 64 знаков)."
        ),
        "audit.more": "Более ранние записи",
        "audit.chain.ok": "Цепочка хешей цела: проверено записей — {checked}.",
        "audit.chain.broken": (
            "Цепочка хешей нарушена в записи № {seq}: {problem}. Проверено целых записей — "
            "{checked}."
        ),
        "audit.chain.head": "Хеш последней записи: {hash}",
        "audit.problem.missing": "запись отсутствует",
        "audit.problem.prev_hash": "ссылка на предыдущую запись не совпадает",
        "audit.problem.content": "содержимое записи изменено",
        # errors of the API (``code`` → ``error.<code>``)
        "error.not_authenticated": "Требуется вход в систему.",
        "error.session_expired": "Сеанс истёк, войдите снова.",
        "error.forbidden": "Недостаточно прав для этого действия.",
        "error.csrf_failed": "Запрос отклонён: неверный или отсутствующий CSRF-токен.",
        "error.invalid_credentials": "Неверное имя пользователя или пароль.",
        "error.locked_out": (
            "Слишком много неудачных попыток входа. Повторите попытку через {minutes} мин."
        ),
        "error.not_found": "Не найдено.",
        "error.method_not_allowed": "Метод не поддерживается.",
        "error.validation_failed": "Неверные параметры запроса.",
        "error.reason_required": "Укажите основание доступа.",
        "error.bad_request": "Неверный запрос.",
        "error.conflict": "Действие невозможно в текущем состоянии.",
        "error.unavailable": "Сервис временно недоступен.",
        "error.payload_too_large": "Слишком большой запрос.",
        "error.internal": "Внутренняя ошибка сервера.",
        # the operator desk and the wallboard (their own module)
        **WORKPLACE_MESSAGES_RU,
        # recordings, reports and administration (their own module)
        **ADMIN_MESSAGES_RU,
    }
)


class Catalogue:
    """Looks texts up by key and fills their placeholders."""

    def __init__(self, messages: Mapping[str, str] = MESSAGES_RU) -> None:
        self._messages = messages

    def __contains__(self, key: object) -> bool:
        return key in self._messages

    def keys(self) -> frozenset[str]:
        return frozenset(self._messages)

    def text(self, key: str, /, **params: object) -> str:
        """The text of ``key`` with ``params`` filled in; the key itself when unknown."""
        template = self._messages.get(key)
        if template is None:
            log.warning("i18n: no message for key %r", key)
            return key
        if not params:
            return template
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            log.warning("i18n: placeholders of %r do not match %s", key, sorted(params))
            return template
