from __future__ import annotations

from pathlib import Path

from hotline.store.bindings import BindingsRepository, StoredBinding
from hotline.store.db import Database


def _b(contact: str, expires_at: float, cseq: int = 1) -> StoredBinding:
    return StoredBinding(
        aor="1001",
        contact=contact,
        expires_at=expires_at,
        call_id="c1",
        cseq=cseq,
        q=None,
        source_transport="UDP",
        source_host="127.0.0.1",
        source_port=5062,
        user_agent="baresip",
    )


def test_bindings_survive_a_new_repository_and_expire(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    db = Database(url)
    db.migrate()
    repo = BindingsRepository(db)
    repo.save(_b("sip:1001@a", 1000.0))
    repo.save(_b("sip:1001@b", 2000.0))
    repo.save(_b("sip:1001@a", 3000.0, cseq=2))  # replaces, not duplicates
    db.dispose()

    db2 = Database(url)
    repo2 = BindingsRepository(db2)
    live = repo2.live(1500.0)
    assert sorted((b.contact, b.expires_at, b.cseq) for b in live) == [
        ("sip:1001@a", 3000.0, 2),
        ("sip:1001@b", 2000.0, 1),
    ]
    repo2.delete("1001", "sip:1001@a")
    assert [b.contact for b in repo2.live(2500.0)] == []
    db2.dispose()
