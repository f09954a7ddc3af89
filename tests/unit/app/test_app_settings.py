"""Every bad setting gives one line naming it, exit code 2, and nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.app.settings import load_settings

HOTLINE = Path(sys.executable).with_name("hotline")


def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("env", "setting", "fragment"),
    [
        ({"HOTLINE_HTTP_PORT": "70000"}, "HOTLINE_HTTP_PORT", "65535"),
        ({"HOTLINE_SIP_PORT": "0"}, "HOTLINE_SIP_PORT", "greater than or equal to 1"),
        ({"HOTLINE_SIP_PORT": "five"}, "HOTLINE_SIP_PORT", "integer"),
        ({"HOTLINE_RTP_PORTS": "20000"}, "HOTLINE_RTP_PORTS", "FIRST-LAST"),
        ({"HOTLINE_RTP_PORTS": "20000-99999"}, "HOTLINE_RTP_PORTS", "between 1024 and 65535"),
        ({"HOTLINE_RTP_PORTS": "20000-20000"}, "HOTLINE_RTP_PORTS", "at least one"),
        ({"HOTLINE_DB_URL": "not a url"}, "HOTLINE_DB_URL", "malformed database URL"),
        ({"HOTLINE_DB_URL": "mysql://h/db"}, "HOTLINE_DB_URL", "unsupported database"),
        ({"HOTLINE_DB_URL": "postgresql://"}, "HOTLINE_DB_URL", "needs a host"),
        ({"HOTLINE_LOG_FORMAT": "xml"}, "HOTLINE_LOG_FORMAT", "json"),
        (
            {"HOTLINE_ACD__AUTO_READY_ON_REGISTER": "perhaps"},
            "HOTLINE_ACD__AUTO_READY_ON_REGISTER",
            "boolean",
        ),
    ],
)
def test_bad_environment_setting(
    hotline_env: dict[str, str], env: dict[str, str], setting: str, fragment: str
) -> None:
    code, out, err = _run(["serve"], env)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hotline: invalid setting {setting}: ")
    assert fragment in lines[0]
    assert out == ""


def test_unknown_key_in_config_file(hotline_env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text("http_port = 8081\nhttp_prot = 8082\n", encoding="utf-8")
    code, _, err = _run(["--config", str(cfg), "serve"], {})
    assert code == 2
    assert err.strip().splitlines() == [
        f"hotline: invalid setting HOTLINE_HTTP_PROT: unknown setting in {cfg}"
    ]


def test_unknown_key_in_a_nested_group(hotline_env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text("[acd]\nauto_ready = true\n", encoding="utf-8")
    code, _, err = _run(["--config", str(cfg), "init"], {})
    assert code == 2
    assert "HOTLINE_ACD__AUTO_READY: unknown setting" in err


def test_malformed_config_file(hotline_env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text("http_port = = 1\n", encoding="utf-8")
    code, _, err = _run(["--config", str(cfg), "serve"], {})
    assert code == 2
    assert err.startswith("hotline: invalid setting HOTLINE_CONFIG: cannot read")


def test_missing_config_file_from_environment(hotline_env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = _run(["serve"], {"HOTLINE_CONFIG": str(tmp_path / "nope.toml")})
    assert code == 2
    assert "HOTLINE_CONFIG: config file" in err and "not found" in err


def test_data_dir_that_cannot_be_created(hotline_env: dict[str, str], tmp_path: Path) -> None:
    # A regular file where a directory is needed: fails for root too.
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = _run(["serve"], {"HOTLINE_DATA_DIR": str(blocker / "var")})
    assert code == 2
    assert err.strip().splitlines()[0].startswith("hotline: invalid setting HOTLINE_DATA_DIR: ")
    assert "cannot create directory" in err


def test_recordings_dir_that_is_a_file(hotline_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "rec"
    target.write_text("x", encoding="utf-8")
    code, _, err = _run(["serve"], {"HOTLINE_RECORDINGS_DIR": str(target)})
    assert code == 2
    assert err.startswith("hotline: invalid setting HOTLINE_RECORDINGS_DIR: ")


def test_read_only_directory_is_reported(hotline_env: dict[str, str], tmp_path: Path) -> None:
    """A directory on a read-only mount: emulate with /proc, which nobody can write."""
    code, _, err = _run(["serve"], {"HOTLINE_RECORDINGS_DIR": "/proc/hotline-recordings"})
    assert code == 2
    assert err.startswith("hotline: invalid setting HOTLINE_RECORDINGS_DIR: ")


def test_bad_setting_starts_nothing_in_a_real_process(hotline_env: dict[str, str]) -> None:
    env = {**os.environ, "HOTLINE_HTTP_PORT": "99999"}
    proc = subprocess.run(
        [str(HOTLINE), "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "hotline: invalid setting HOTLINE_HTTP_PORT: Input should be less than or equal to 65535 (got '99999')"
    ]
    assert proc.stdout == ""
    assert not (Path(hotline_env["HOTLINE_DATA_DIR"]) / "hotline.db").exists()


def test_defaults_and_precedence(
    hotline_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text(
        'http_host = "127.0.0.2"\nsip_port = 5070\n[acd]\nauto_ready_on_register = true\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOTLINE_SIP_PORT", "5080")
    s = load_settings(cfg)
    assert s.http_host == "127.0.0.2"  # from the file
    assert s.sip_port == 5080  # the environment wins over the file
    assert s.acd.auto_ready_on_register is True
    assert s.rtp_ports.first == 20000 and s.rtp_ports.last == 20999
    assert s.rtp_ports.pair_count == 500
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("var/hotline.db")
    assert s.recordings_path == Path(hotline_env["HOTLINE_DATA_DIR"]) / "recordings"
    assert s.recordings_path.is_dir()


def test_media_host_must_be_a_usable_ip(hotline_env: dict[str, str]) -> None:
    code, _, err = _run(["serve"], {"HOTLINE_MEDIA_HOST": "0.0.0.0"})
    assert code == 2 and err.startswith("hotline: invalid setting HOTLINE_MEDIA_HOST: ")
    code, _, err = _run(["serve"], {"HOTLINE_MEDIA_HOST": "pbx.example"})
    assert code == 2 and "an IP address is needed" in err


def test_media_address_prefers_the_setting_then_the_sip_host_then_loopback() -> None:
    from hotline.app.callservice import media_address

    assert media_address("0.0.0.0", "198.51.100.7") == "198.51.100.7"
    assert media_address("198.51.100.8") == "198.51.100.8"
    assert media_address("0.0.0.0") == "127.0.0.1"
    assert media_address("::") == "127.0.0.1"
