"""Read an offline W&B run (the .wandb file) in tests, to check what steer logged."""

import json
import struct
from pathlib import Path

BLOCK = 32768
FILE_HEADER = 7  # ":W&B", magic (uint16), version (uint8)
RECORD_HEADER = 7  # crc32 (uint32), length (uint16), type (uint8)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[bytes]:
    """The payloads of a LevelDB-log file, chunks joined."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    out, pending, pos = [], b"", FILE_HEADER
    while pos + RECORD_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + RECORD_HEADER])
        chunk = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            out.append(pending + chunk)
        else:
            break
    return out


def history(run_dir: Path) -> list[dict]:
    """The history rows (step-wise logs) of an offline run folder."""
    from wandb.proto import wandb_internal_pb2

    rows = []
    for payload in records(next(run_dir.glob("*.wandb"))):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                         for item in record.history.item})
    return rows


def _merge(into: dict, items) -> None:
    """Config or summary items into ``into``; a nested key (a path) goes into nested dicts."""
    for item in items:
        path = list(item.nested_key) or [item.key]
        node = into
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = json.loads(item.value_json)


def run(run_dir: Path) -> dict:
    """What an offline run folder says: id, name, group, job_type, tags, config, summary, artifacts.

    config and summary are merged over the run's records (the last value of a
    key wins); ``artifacts`` lists each logged artifact's name, type, aliases,
    references and whether it is the run's input (``use_after_commit``).
    """
    from wandb.proto import wandb_internal_pb2

    info: dict = {"config": {}, "summary": {}, "artifacts": []}
    for payload in records(next(run_dir.glob("*.wandb"))):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            info.update(id=r.run_id, name=r.display_name, group=r.run_group, job_type=r.job_type, tags=list(r.tags))
            _merge(info["config"], r.config.update)
        elif kind == "config":
            _merge(info["config"], record.config.update)
        elif kind == "summary":
            _merge(info["summary"], record.summary.update)
        elif kind == "artifact":
            a = record.artifact
            info["artifacts"].append({"name": a.name, "type": a.type, "aliases": list(a.aliases),
                                      "use_after_commit": a.use_after_commit,
                                      "refs": [entry.ref for entry in a.manifest.contents]})
    return info
