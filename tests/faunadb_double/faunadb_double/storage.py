"""Durable node state under storage_data_path.

* identity.json  - host UUID (created on first start), replica name, member flag
* topology.json  - the topology records this node knows
* entries.jsonl  - append-only write entries this node accepted; each line is
                   fsync'd before the node acknowledges it, so an acknowledged
                   write survives SIGKILL. Lines carry a local append sequence
                   number that peers use as a pull cursor, and the wall-clock
                   time of the log window that sealed them (``w``), so that a
                   restarted node knows how far its log had got (cluster.py).

Documents are materialised in memory from the entries by last-writer-wins on
the entry's Lamport timestamp (lts, then entry id), so replaying entries in any
order gives the same result.
"""

from __future__ import annotations

import json
import os
import threading
import uuid


def _atomic_write(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


class Store:
    def __init__(self, path: str):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.lock = threading.RLock()
        self._id_path = os.path.join(path, "identity.json")
        self._topo_path = os.path.join(path, "topology.json")
        self._log_path = os.path.join(path, "entries.jsonl")
        ident = _read_json(self._id_path)
        if not ident:
            ident = {"host_id": str(uuid.uuid4()), "replica": None, "member": False}
            _atomic_write(self._id_path, ident)
        self.identity = ident
        self.topology = _read_json(self._topo_path) or {}
        self.entries: list[dict] = []  # index = seq - 1
        self.ids: set[str] = set()
        self.docs: dict[str, tuple] = {}  # key -> (lts, entry id, value or None)
        self.max_lts = 0
        self.max_wall = 0.0  # the latest log window (wall-clock seconds) of an entry held
        self.cond = threading.Condition(self.lock)
        self.queued: dict[str, dict] = {}  # entry id -> entry, written but not yet durable
        self.batch_no = 1  # the batch new entries join
        self.durable_no = 0  # the last batch fsync'd
        self.flushing = False
        self._load_entries()
        self._fh = open(self._log_path, "a", encoding="utf-8")  # noqa: SIM115

    # -- identity / topology ---------------------------------------------
    @property
    def host_id(self) -> str:
        return self.identity["host_id"]

    def set_identity(self, **fields) -> None:
        with self.lock:
            self.identity = {**self.identity, **fields}
            _atomic_write(self._id_path, self.identity)

    def save_topology(self, records: dict) -> None:
        with self.lock:
            self.topology = records
            _atomic_write(self._topo_path, records)

    # -- entries ----------------------------------------------------------
    def _load_entries(self) -> None:
        try:
            fh = open(self._log_path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return
        good = 0
        with fh:
            for line in fh:
                try:
                    entry = json.loads(line) if line.endswith(b"\n") else None
                except ValueError:
                    entry = None
                if not isinstance(entry, dict):
                    break  # a torn last line from a crash: never acknowledged
                good += len(line)
                self._index(entry)
        if good < os.path.getsize(self._log_path):
            # Cut the torn tail, or the next entry would be glued onto it and
            # lost at the following restart.
            with open(self._log_path, "r+b") as out:
                out.truncate(good)
                os.fsync(out.fileno())

    def _index(self, entry: dict) -> None:
        if entry["id"] in self.ids:
            return  # written twice when a flush failed and was retried
        self.entries.append(entry)
        self.ids.add(entry["id"])
        self.max_lts = max(self.max_lts, entry["lts"])
        self.max_wall = max(self.max_wall, entry.get("w") or 0.0)
        cur = self.docs.get(entry["key"])
        rank = (entry["lts"], entry["id"])
        if cur is None or rank > cur[:2]:
            self.docs[entry["key"]] = (entry["lts"], entry["id"], entry.get("val"))

    @property
    def seq(self) -> int:
        return len(self.entries)

    def append(self, entries: list[dict]) -> int:
        """Durably append the entries not yet held; return how many were new.

        Group commit: whoever finds no flush in progress writes and fsyncs
        everything queued so far, for itself and every writer waiting behind
        it; the others wait for that one fsync. Entries become visible only
        once durable."""
        with self.cond:
            fresh = [e for e in entries if e["id"] not in self.ids and e["id"] not in self.queued]
            in_flight = any(e["id"] in self.queued for e in entries)
            if not fresh and not in_flight:
                return 0
            for entry in fresh:
                self.queued[entry["id"]] = entry
            wanted = self.batch_no  # the batch now filling holds these entries
            while self.durable_no < wanted:
                if self.flushing:
                    self.cond.wait()
                    continue
                self._flush_locked()
            return len(fresh)

    def _flush_locked(self) -> None:
        batch, number = list(self.queued.values()), self.batch_no
        self.batch_no += 1
        self.flushing = True
        self.cond.release()
        try:
            for entry in batch:
                self._fh.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        finally:
            self.cond.acquire()
            self.flushing = False
            self.cond.notify_all()  # on failure a waiter takes over the flush
        for entry in batch:
            self.queued.pop(entry["id"], None)
            self._index(entry)
        self.durable_no = number
        self.cond.notify_all()

    def since(self, cursor: int, match, limit: int) -> tuple[list[dict], int]:
        """Entries after local seq ``cursor`` that ``match``; return (entries, new cursor)."""
        with self.lock:
            end = min(len(self.entries), cursor + limit)
            chunk = self.entries[cursor:end]
        return [e for e in chunk if match(e)], end

    def get(self, key: str) -> tuple | None:
        with self.lock:
            return self.docs.get(key)

    def scan(self, prefix: str) -> dict[str, tuple]:
        with self.lock:
            return {k: v for k, v in self.docs.items() if k.startswith(prefix)}

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
