"""Process settings: one typed tree from the environment and an optional file.

Names operators rely on (environment variable → field):

=========================  ===================  =================================
``HOTLINE_DATA_DIR``       ``data_dir``         ``./var``
``HOTLINE_DB_URL``         ``db_url``           SQLite file in the data dir
``HOTLINE_SIP_HOST``       ``sip_host``         ``0.0.0.0``
``HOTLINE_SIP_PORT``       ``sip_port``         ``5060`` (UDP and TCP)
``HOTLINE_HTTP_HOST``      ``http_host``        ``127.0.0.1``
``HOTLINE_HTTP_PORT``      ``http_port``        ``8080``
``HOTLINE_RTP_PORTS``      ``rtp_ports``        ``20000-20999``
``HOTLINE_RECORDINGS_DIR`` ``recordings_dir``   data dir / ``recordings``
``HOTLINE_LOG_FORMAT``     ``log_format``       ``json`` or ``console``
``HOTLINE_ASR_MODEL_DIR``  ``asr_model_dir``    none (the voice assistant hands over)
``HOTLINE_TIMEZONE``       ``timezone``         ``Europe/Moscow`` (IANA name)
=========================  ===================  =================================

``timezone`` is the service's local time: where report periods begin and
end, how report intervals are cut and labelled, and the times of exports
(the web report pages; ``hotline report`` unless ``--tz`` says otherwise).
Events are stored in UTC whatever it says.

Nested groups use ``__`` in the environment (``HOTLINE_ACD__AUTO_READY_ON_REGISTER``)
and tables in the TOML file (``[acd]``).  The file is named by ``HOTLINE_CONFIG``
or ``hotline --config FILE``; unknown keys in it are an error.  The environment
wins over the file, the file over the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hotline.core.errors import ConfigurationError

__all__ = [
    "AcdSettings",
    "BotSettings",
    "FeedSettings",
    "PortRange",
    "RetentionSettings",
    "Settings",
    "SipSettings",
    "WebSettings",
    "load_settings",
]

ENV_PREFIX = "HOTLINE_"
Port = Annotated[int, Field(ge=1, le=65535)]


class PortRange(BaseModel):
    """An inclusive UDP port range for RTP/RTCP pairs (even RTP port, odd RTCP)."""

    model_config = ConfigDict(frozen=True)
    first: int
    last: int

    @property
    def pair_count(self) -> int:
        start = self.first + (self.first % 2)
        return max(0, (self.last - start + 1) // 2)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


class AcdSettings(BaseModel):
    """Automatic call distribution knobs that are process-wide."""

    model_config = ConfigDict(extra="forbid")
    auto_ready_on_register: bool = False


class CapacitySettings(BaseModel):
    """The capacity guard (``[capacity]`` / ``HOTLINE_CAPACITY__*``; issue 6 item 11).

    New calls hear "all lines are busy" when the media loop's smoothed
    lateness per 20 ms tick reaches ``busy_lateness_ms``, get 503 from
    ``reject_lateness_ms``, and are let in again below ``clear_lateness_ms``.
    """

    model_config = ConfigDict(extra="forbid")
    busy_lateness_ms: Annotated[float, Field(gt=0, le=1000)] = 10.0
    reject_lateness_ms: Annotated[float, Field(gt=0, le=5000)] = 40.0
    clear_lateness_ms: Annotated[float, Field(ge=0, le=1000)] = 3.0

    @model_validator(mode="after")
    def _ordered(self) -> CapacitySettings:
        if not self.clear_lateness_ms < self.busy_lateness_ms < self.reject_lateness_ms:
            raise ValueError("need clear_lateness_ms < busy_lateness_ms < reject_lateness_ms")
        return self


class SipSettings(BaseModel):
    """SIP stack knobs beyond the listen address (``[sip]`` / ``HOTLINE_SIP__*``)."""

    model_config = ConfigDict(extra="forbid")
    realm: str = "hotline122"
    tls_port: Port | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    t1_s: Annotated[float, Field(gt=0, le=10)] = 0.5
    t2_s: Annotated[float, Field(gt=0, le=60)] = 4.0
    t4_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    user_agent: str | None = None  # None: no product or version in Server/User-Agent
    # Digest algorithms offered, in order (RFC 8760). Default MD5 only: deployed
    # phones fail on more: SIPp 3.6 takes the first challenge and cannot do
    # SHA-256, and baresip 1.0 (libre) rejects a 401 that offers any algorithm
    # it lacks. Set ["SHA-256", "MD5"] when every phone supports RFC 8760.
    digest_algorithms: tuple[Literal["MD5", "SHA-256"], ...] = ("MD5",)
    max_auth_failures: Annotated[int, Field(ge=1)] = 10
    auth_failure_window_s: Annotated[float, Field(gt=0)] = 60.0
    ban_s: Annotated[float, Field(gt=0)] = 600.0
    unauthenticated_rate_per_s: Annotated[float, Field(gt=0)] = 20.0
    trace: bool = False
    qualify_interval_s: Annotated[float, Field(ge=5, le=3600)] = 60.0


class FeedSettings(BaseModel):
    """Situational Centre feed (R12g; ``[feed]`` / ``HOTLINE_FEED__*``; docs/feed.md)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    url: str | None = None  # POST target; None: pull only (GET /api/v1/feed)
    key: SecretStr | None = None  # HMAC-SHA256 signing key; required when enabled
    interval_min: int = 15
    node_id: str = "hotline122"  # part of each document's idempotency key

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("an http(s) URL is needed")
        return value

    @field_validator("interval_min")
    @classmethod
    def _check_interval(cls, value: int) -> int:
        if value not in (15, 30, 60):
            raise ValueError("the feed interval must be 15, 30 or 60 minutes")
        return value


class RetentionSettings(BaseModel):
    """Retention of recordings and numbers (``[retention]`` / ``HOTLINE_RETENTION__*``)."""

    model_config = ConfigDict(extra="forbid")
    default_days: Annotated[int, Field(ge=1, le=36600)] = 1095
    topic_days: dict[str, Annotated[int, Field(ge=1, le=36600)]] = {}
    run_at_hour_utc: Annotated[int, Field(ge=0, le=23)] = 3


class WebSettings(BaseModel):
    """The web workplace (``[web]`` / ``HOTLINE_WEB__*``; docs/web.md).

    Plain HTTP is served only on a loopback address, unless ``behind_proxy``
    says that a reverse proxy terminates TLS in front of the node.
    """

    model_config = ConfigDict(extra="forbid")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    behind_proxy: bool = False
    proxy_ips: str = "127.0.0.1"  # whose X-Forwarded-* headers are trusted
    session_ttl_s: Annotated[float, Field(ge=60, le=7 * 86400)] = 12 * 3600.0
    session_idle_s: Annotated[float, Field(ge=60, le=7 * 86400)] = 30 * 60.0
    lockout_user_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    lockout_source_failures: Annotated[int, Field(ge=1, le=100000)] = 20
    lockout_window_s: Annotated[float, Field(ge=10, le=86400)] = 15 * 60.0
    api_docs: bool = True


class BotSettings(BaseModel):
    """Voice assistant knobs (``[bot]`` / ``HOTLINE_BOT__*``; docs/asr.md)."""

    model_config = ConfigDict(extra="forbid")
    asr_max_sessions: Annotated[int, Field(ge=1, le=1000)] = 20
    asr_workers: Annotated[int, Field(ge=1, le=256)] | None = None  # None: one per CPU
    vad_engine: Literal["silero", "webrtc"] = "silero"  # webrtc is also the automatic fallback
    vad_webrtc_mode: Annotated[int, Field(ge=0, le=3)] = 3
    end_silence_ms: Annotated[int, Field(ge=200, le=5000, multiple_of=20)] = 700
    vad_min_speech_ms: Annotated[int, Field(ge=20, le=2000, multiple_of=20)] = 100
    vad_max_utterance_ms: Annotated[int, Field(ge=2000, le=120_000, multiple_of=20)] = 15_000


class Settings(BaseSettings):
    """Everything the process needs before it can read its database."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("./var")
    db_url: str | None = None
    sip_host: str = "0.0.0.0"
    sip_port: Port = 5060
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    media_host: str | None = None
    rtp_ports: Annotated[PortRange, NoDecode] = PortRange(first=20000, last=20999)
    recordings_dir: Path | None = None
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    drain_timeout_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    max_calls: Annotated[int, Field(ge=1)] = 500
    # SCHED_RR priority for the whole process (media timing on a busy host, like
    # Asterisk's -p or FreeSWITCH's -rp); None: normal scheduling.  Needs CAP_SYS_NICE.
    realtime_priority: Annotated[int, Field(ge=1, le=99)] | None = None
    asr_model_dir: Path | None = None  # a Vosk model directory (docs/asr.md)
    # The service's local time for reports (IANA name).  Moscow time: federal
    # reporting of the 122 service is kept in it; a region in another zone sets its own.
    timezone: str = "Europe/Moscow"
    acd: AcdSettings = AcdSettings()
    sip: SipSettings = SipSettings()
    retention: RetentionSettings = RetentionSettings()
    feed: FeedSettings = FeedSettings()
    web: WebSettings = WebSettings()
    bot: BotSettings = BotSettings()
    capacity: CapacitySettings = CapacitySettings()

    # Set by load_settings, not by the user.
    config_file: Path | None = None

    @field_validator("rtp_ports", mode="before")
    @classmethod
    def _parse_rtp_ports(cls, value: Any) -> Any:
        if isinstance(value, str):
            lo, sep, hi = value.partition("-")
            if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
                raise ValueError(f"expected FIRST-LAST, e.g. 20000-20999 (got {value!r})")
            value = {"first": int(lo), "last": int(hi)}
        if isinstance(value, dict):
            first, last = int(value["first"]), int(value["last"])
            if not (1024 <= first <= 65535 and 1024 <= last <= 65535):
                raise ValueError(f"ports must be between 1024 and 65535 (got {first}-{last})")
            if last - first < 1:
                raise ValueError(f"the range must hold at least one RTP/RTCP pair ({first}-{last})")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("Europe")
            raise ValueError(
                "unknown time zone: use an IANA name such as Europe/Moscow or Asia/Yekaterinburg"
            ) from None
        return value

    @field_validator("media_host")
    @classmethod
    def _check_media_host(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        import ipaddress

        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"an IP address is needed (got {value!r})") from None
        if address.is_unspecified:
            raise ValueError("the address phones send media to cannot be 0.0.0.0 or ::")
        return value

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"malformed database URL ({exc})") from None
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
        if backend == "postgresql" and not url.host and not url.query.get("host"):
            raise ValueError("a postgresql URL needs a host")
        return value

    @property
    def database_url(self) -> str:
        """The effective database URL (SQLite in the data dir by default)."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'hotline.db').resolve()}"

    @property
    def recordings_path(self) -> Path:
        return (
            self.recordings_dir if self.recordings_dir is not None else self.data_dir / "recordings"
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _setting_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return "settings"
    if parts[0] == "rtp_ports":
        parts = parts[:1]
    return ENV_PREFIX + "__".join(p.upper() for p in parts)


def _setting_from_message(message: str) -> str:
    """The setting named in a pydantic-settings parse error ("... field "x" ...")."""
    quoted = message.split('"')
    name = quoted[1] if len(quoted) > 2 else "settings"
    return ENV_PREFIX + name.upper()


def _check_writable_dir(setting: str, path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            setting, f"cannot create directory {path}: {exc.strerror}"
        ) from None
    if not path.is_dir():
        raise ConfigurationError(setting, f"{path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(setting, f"directory {path} is not writable")


def _check_web(web: WebSettings, http_host: str) -> None:
    from hotline.web.config import WebConfig, check_transport

    if (web.tls_cert is None) != (web.tls_key is None):
        raise ConfigurationError(
            f"{ENV_PREFIX}WEB__TLS_CERT", "HTTPS needs both a certificate and a key"
        )
    for name, path in (("TLS_CERT", web.tls_cert), ("TLS_KEY", web.tls_key)):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"{ENV_PREFIX}WEB__{name}", f"file {path} not found")
    check_transport(
        http_host,
        WebConfig(tls_cert=web.tls_cert, tls_key=web.tls_key, behind_proxy=web.behind_proxy),
    )


def load_settings(config_file: Path | None = None, *, check_dirs: bool = True) -> Settings:
    """Read, validate and check the settings; raise ConfigurationError on the first problem.

    ``config_file`` (or ``HOTLINE_CONFIG``) names an optional TOML file.
    """
    if config_file is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigurationError(f"{ENV_PREFIX}CONFIG", f"config file {config_file} not found")
        try:
            import tomllib

            tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigurationError(
                f"{ENV_PREFIX}CONFIG", f"cannot read {config_file}: {exc}"
            ) from None
    settings_cls: type[Settings] = Settings
    if config_file is not None:
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})
        settings_cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        settings = settings_cls()
    except SettingsError as exc:
        raise ConfigurationError(_setting_from_message(str(exc)), str(exc)) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        problem = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            problem = "unknown setting" + (f" in {config_file}" if config_file else "")
        elif "input" in err and err.get("type") != "missing":
            problem = f"{problem} (got {err['input']!r})"
        raise ConfigurationError(_setting_name(tuple(err.get("loc", ()))), problem) from None
    settings = Settings.model_construct(**{**dict(settings), "config_file": config_file})
    tls = settings.sip
    if (tls.tls_cert is None) != (tls.tls_key is None):
        raise ConfigurationError(
            f"{ENV_PREFIX}SIP__TLS_CERT", "TLS needs both a certificate and a key"
        )
    feed = settings.feed
    if (feed.enabled or feed.url) and (feed.key is None or not feed.key.get_secret_value()):
        raise ConfigurationError(f"{ENV_PREFIX}FEED__KEY", "the feed needs a signing key")
    for name, path in (("TLS_CERT", tls.tls_cert), ("TLS_KEY", tls.tls_key)):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"{ENV_PREFIX}SIP__{name}", f"file {path} not found")
    _check_web(settings.web, settings.http_host)
    if check_dirs:
        _check_writable_dir(f"{ENV_PREFIX}DATA_DIR", settings.data_dir)
        _check_writable_dir(f"{ENV_PREFIX}RECORDINGS_DIR", settings.recordings_path)
    return settings
