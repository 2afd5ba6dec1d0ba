"""The double's durable entry file: group commit and crash recovery."""

import os
import threading

from faunadb_double import storage
from faunadb_double.storage import Store


def _entry(i):
    return {"id": f"e{i}", "lts": i + 1, "key": f"d/c/{i}", "val": {"i": i}, "token": i}


def test_concurrent_appends_share_fsyncs_and_are_all_durable(tmp_path, monkeypatch):
    calls = []
    real_fsync = os.fsync

    def slow_fsync(fd):
        calls.append(fd)
        threading.Event().wait(0.02)  # a disk that takes time: writers pile up
        real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", slow_fsync)
    store = Store(str(tmp_path))
    calls.clear()  # identity.json
    threads = [threading.Thread(target=store.append, args=([_entry(i)],)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert store.seq == 40
    assert len(calls) < 40, "every append paid its own fsync"
    store.close()
    reopened = Store(str(tmp_path))
    assert sorted(e["id"] for e in reopened.entries) == sorted(f"e{i}" for i in range(40))


def test_an_append_returns_only_after_its_fsync(tmp_path, monkeypatch):
    store = Store(str(tmp_path))
    synced = []
    monkeypatch.setattr(storage.os, "fsync", lambda fd: synced.append(store.seq))
    assert store.append([_entry(1)]) == 1
    assert synced == [0]  # fsync ran before the entry became visible
    assert store.get("d/c/1")[2] == {"i": 1}
    assert store.append([_entry(1)]) == 0  # already held: no second copy
    assert synced == [0]


def test_a_torn_tail_is_cut_so_later_entries_survive_the_next_crash(tmp_path):
    store = Store(str(tmp_path))
    store.append([_entry(1)])
    store.close()
    with open(tmp_path / "entries.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "e2", "lts": 2, "key"')  # crash mid-line: never acknowledged
    store = Store(str(tmp_path))
    assert [e["id"] for e in store.entries] == ["e1"]
    store.append([_entry(3)])  # acknowledged after the first restart
    store.close()
    store = Store(str(tmp_path))  # second restart
    assert [e["id"] for e in store.entries] == ["e1", "e3"]
