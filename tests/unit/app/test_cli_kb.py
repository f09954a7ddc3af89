"""``hotline kb``: match's output format, import/export round trip, errors.

``kb match`` loads the packaged embedding model (a fraction of a second) and
embeds a two-answer knowledge base: a few seconds on a loaded machine.
What ``hotline init --demo`` loads is checked in tests/unit/store/test_store_kb.py
(the init command itself is slow: it hashes every demo password with argon2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.bot.kb import parse_kb

TINY_KB = """\
- id: social-02
  topic: social
  title: Назначение пенсии по старости
  questions:
  - Как оформить пенсию по старости?
  answer: Заявление о назначении пенсии подают на Госуслугах или в МФЦ.
- id: state_services-07
  topic: state_services
  title: Загранпаспорт
  questions:
  - Как оформить загранпаспорт?
  answer: Заграничный паспорт оформляют на Госуслугах, в МФЦ или в отделе по вопросам миграции.
  escalate: true
"""
QUESTIONS = (
    "Как оформить пенсию по старости?\nКакая погода завтра?\n\nКак оформить загранпаспорт?\n"
)


@pytest.fixture
def kb_file(tmp_path: Path) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(TINY_KB, encoding="utf-8")
    return path


@pytest.fixture
def runner(hotline_env: dict[str, str]) -> CliRunner:
    return CliRunner()


def test_match_writes_one_line_per_question(runner: CliRunner, kb_file: Path) -> None:
    result = runner.invoke(app, ["kb", "match", "--kb", str(kb_file)], input=QUESTIONS)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 2 for row in rows)
    assert rows[0][0] == "social-02"
    assert rows[1][0] == ""  # the weather: handed over
    assert rows[2] == ["", "0.0000"]  # an empty line
    assert rows[3][0] == "state_services-07"
    for _identifier, confidence in rows:
        assert 0.0 <= float(confidence) <= 1.0
        assert len(confidence.split(".")[1]) == 4
    assert float(rows[0][1]) > float(rows[1][1])


def test_match_json(runner: CliRunner, kb_file: Path) -> None:
    result = runner.invoke(app, ["kb", "match", "--json", "--kb", str(kb_file)], input=QUESTIONS)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in objects] == ["social-02", None, None, "state_services-07"]
    assert all(set(o) == {"id", "confidence"} for o in objects)
    assert objects[2]["confidence"] == 0.0


def test_import_export_and_match_from_the_database(runner: CliRunner, kb_file: Path) -> None:
    init = runner.invoke(app, ["init"])
    assert init.exit_code == 0, init.output
    imported = runner.invoke(app, ["kb", "import", str(kb_file), "--by", "tester"])
    assert imported.exit_code == 0, imported.output
    assert "2 standard answers imported" in imported.stdout
    assert parse_kb(runner.invoke(app, ["kb", "export"]).stdout) == parse_kb(TINY_KB)
    kb_file.write_text(TINY_KB.replace("Назначение пенсии", "Пенсия"), encoding="utf-8")
    assert runner.invoke(app, ["kb", "import", str(kb_file)]).exit_code == 0
    again = parse_kb(runner.invoke(app, ["kb", "export"]).stdout)
    assert [e.title for e in again] == ["Пенсия по старости", "Загранпаспорт"]
    matched = runner.invoke(app, ["kb", "match"], input="Как оформить пенсию по старости?\n")
    assert matched.exit_code == 0, matched.output
    assert matched.stdout.split("\t")[0] == "social-02"


def test_bad_knowledge_base_names_the_entry(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_KB.replace("topic: social", "topic: weather"), encoding="utf-8")
    result = runner.invoke(app, ["kb", "match", "--kb", str(bad)], input="вопрос\n")
    assert result.exit_code == 1
    assert "entry 'social-02': unknown topic 'weather'" in result.stderr


def test_database_must_be_initialised(runner: CliRunner, kb_file: Path) -> None:
    result = runner.invoke(app, ["kb", "match"], input="вопрос\n")
    assert result.exit_code == 1
    assert "not initialised" in result.stderr
    result = runner.invoke(app, ["kb", "import", str(kb_file)])
    assert result.exit_code == 1
    assert "not initialised" in result.stderr
