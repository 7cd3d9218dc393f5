"""An append-only, checksummed journal of solved samples (crash safety of generation).

Every solved sample is appended at once as one *record*; a killed run loses at
most the record being written, and the same command resumes from the journal.
No pickle: a record is plain bytes::

    MAGIC (4 bytes, b"RJ1\\x00")
    length  (uint64 little-endian: bytes in the payload)
    crc32   (uint32 little-endian: zlib.crc32 of the payload)
    payload = header_len (uint32 LE) + JSON header (UTF-8) + raw array bytes

The JSON header is ``{"meta": {...}, "arrays": [{"name", "dtype", "shape",
"offset", "nbytes"[, "codec"]}, ...]}``; arrays are C-ordered raw buffers at
``offset`` from the start of the array bytes, with ``dtype`` a numpy type
string such as ``"<f8"``; with ``"codec": "shuffle+deflate1"`` the buffer is
HDF5's byte shuffle followed by zlib level 1 (the dataset's own chunk format).
Reading stops at the first record whose magic, length or checksum is wrong (a
torn tail after ``kill -9``, or a corrupted one); opening for append truncates
the file there. The first record holds the run's config; a resume
with a different config is refused.

:class:`Journal` opens (or resumes) a journal and appends to it;
:class:`JournalWriter` appends from a background thread, so that compressing
and writing a sample overlaps with solving the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

import numpy as np

from data.errors import OptionError

MAGIC = b"RJ1\x00"
_PREFIX = struct.Struct("<4sQI")  # magic, payload length, crc32
_HLEN = struct.Struct("<I")


#: codec of compressed arrays: HDF5's shuffle filter then zlib (deflate) level 1, i.e.
#: exactly the bytes of a chunk of a dataset created with ``data.dataset.COMPRESSION``,
#: so the final write can store them with ``write_direct_chunk`` (no recompression).
CODEC = "shuffle+deflate1"


@dataclass
class Record:
    """One journal record: JSON ``meta`` and named arrays (``arrays`` is empty until loaded).

    ``chunks`` maps the names of compressed arrays to ``(dtype, shape, bytes)`` when the
    record was loaded with ``keep_compressed=True``.
    """

    meta: dict[str, Any]
    offset: int
    size: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    chunks: dict[str, tuple[np.dtype, tuple[int, ...], bytes]] = field(default_factory=dict)


def _plain(obj: Any) -> Any:
    """JSON form of numpy scalars/arrays in record headers."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def shuffle_deflate(a: np.ndarray) -> bytes:
    """HDF5 shuffle (byte ``k`` of every element together) followed by zlib level 1."""
    a = np.ascontiguousarray(a)
    shuffled = a.reshape(-1).view(np.uint8).reshape(-1, a.dtype.itemsize).T.tobytes()
    return zlib.compress(shuffled, 1)


def inflate_unshuffle(data: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`shuffle_deflate`."""
    raw = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    return raw.reshape(dtype.itemsize, -1).T.copy().view(dtype).reshape(shape)


def encode_record(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                  compress: Iterable[str] = ()) -> bytes:
    """The bytes of one record (prefix + payload); arrays named in ``compress`` use ``CODEC``."""
    specs, chunks, offset = [], [], 0
    compress = set(compress)
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object; the journal stores raw numbers")
        spec = {"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        if name in compress and a.size:
            data = shuffle_deflate(a)
            spec["codec"] = CODEC
        else:
            data = a.tobytes()
        spec["nbytes"] = len(data)
        specs.append(spec)
        chunks.append(data)
        offset += len(data)
    header = json.dumps({"meta": dict(meta), "arrays": specs}, sort_keys=True,
                        default=_plain).encode()
    payload = b"".join([_HLEN.pack(len(header)), header, *chunks])
    return _PREFIX.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode_payload(payload: bytes, with_arrays: bool = True, keep_compressed: bool = False
                   ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """``(meta, arrays, chunks)`` of a checked payload (arrays are writable copies).

    With ``keep_compressed`` compressed arrays are returned undecoded in ``chunks``.
    """
    (hlen,) = _HLEN.unpack_from(payload, 0)
    header = json.loads(payload[_HLEN.size:_HLEN.size + hlen].decode())
    arrays: dict[str, np.ndarray] = {}
    chunks: dict[str, Any] = {}
    if with_arrays:
        base = _HLEN.size + hlen
        for spec in header["arrays"]:
            start = base + spec["offset"]
            buf = payload[start:start + spec["nbytes"]]
            dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
            if spec.get("codec") == CODEC:
                if keep_compressed:
                    chunks[spec["name"]] = (dtype, shape, bytes(buf))
                else:
                    arrays[spec["name"]] = inflate_unshuffle(buf, dtype, shape)
            elif spec.get("codec"):
                raise ValueError(f"unknown journal codec {spec['codec']!r}")
            else:
                arrays[spec["name"]] = np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
    return header["meta"], arrays, chunks


def scan(path: str | os.PathLike, with_arrays: bool = False) -> tuple[list[Record], int]:
    """Read every valid record; return them and the byte offset where validity ends."""
    records: list[Record] = []
    good = 0
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        while True:
            prefix = fh.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size:
                break
            magic, length, crc = _PREFIX.unpack(prefix)
            if magic != MAGIC or good + _PREFIX.size + length > size:
                break
            payload = fh.read(length)
            if len(payload) != length or zlib.crc32(payload) != crc:
                break
            try:
                meta, arrays, _ = decode_payload(payload, with_arrays)
            except (ValueError, KeyError, UnicodeDecodeError, struct.error, zlib.error):
                break
            records.append(Record(meta, good, _PREFIX.size + length, arrays))
            good += _PREFIX.size + length
    return records, good


def read_first(path: str | os.PathLike) -> Record | None:
    """The first (config) record with its arrays, or ``None`` if there is no valid one."""
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size:
                return None
            magic, length, crc = _PREFIX.unpack(prefix)
            payload = fh.read(length)
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            return None
        meta, arrays, _ = decode_payload(payload)
    except (OSError, ValueError, KeyError, UnicodeDecodeError, struct.error, zlib.error):
        return None
    return Record(meta, 0, _PREFIX.size + length, arrays)


def read_record(path: str | os.PathLike | BinaryIO, record: Record,
                keep_compressed: bool = False) -> Record:
    """Load the arrays of a record found by :func:`scan` (checksum verified again).

    ``path`` may be an open binary file (used as is) or a path.
    """
    with contextlib.ExitStack() as stack:
        fh = path if hasattr(path, "read") else stack.enter_context(open(path, "rb"))
        fh.seek(record.offset)
        magic, length, crc = _PREFIX.unpack(fh.read(_PREFIX.size))
        payload = fh.read(length)
    if magic != MAGIC or zlib.crc32(payload) != crc:
        raise ValueError(f"journal record at byte {record.offset} changed on disk")
    meta, arrays, chunks = decode_payload(payload, keep_compressed=keep_compressed)
    return Record(meta, record.offset, record.size, arrays, chunks)


class Journal:
    """An open journal: the valid records found at opening, and ``append``.

    ``Journal(path, config)`` creates the file (first record = ``config``) or
    reopens it, truncating a torn/bad tail; a first record that is not the same
    ``config`` raises ``ValueError``. ``config_arrays`` (e.g. the parameter
    table) are stored with the config and must match bitwise as well.
    """

    def __init__(self, path: str | os.PathLike, config: Mapping[str, Any],
                 config_arrays: Mapping[str, np.ndarray] | None = None) -> None:
        self.path = Path(path)
        self.discarded_bytes = 0
        config = json.loads(json.dumps(dict(config), sort_keys=True, default=_plain))
        config_arrays = dict(config_arrays or {})
        records: list[Record] = []
        if self.path.exists():
            records, good = scan(self.path)
            self.discarded_bytes = self.path.stat().st_size - good
            if records:
                self._check_config(records[0], config, config_arrays)
        self._fh = open(self.path, "r+b" if self.path.exists() else "w+b")
        if records:
            self._fh.truncate(records[-1].offset + records[-1].size)
            self._fh.seek(0, os.SEEK_END)
            self.samples = records[1:]
        else:
            self._fh.truncate(0)
            self._write(encode_record({"kind": "config", "config": config}, config_arrays))
            self.samples = []

    def _check_config(self, first: Record, config: dict[str, Any],
                      arrays: Mapping[str, np.ndarray]) -> None:
        old = first.meta.get("config")
        if first.meta.get("kind") != "config" or old != config:
            diff = sorted(k for k in set(old or {}) | set(config)
                          if (old or {}).get(k) != config.get(k))
            raise OptionError(f"{self.path} belongs to a run with different settings "
                              f"({', '.join(diff) or 'config'}); rerun with {{option}} to start "
                              "over", "overwrite")
        stored = read_record(self.path, first).arrays
        for name, arr in arrays.items():
            if name not in stored or not np.array_equal(stored[name], arr):
                raise OptionError(f"{self.path}: stored {name} differ from this run's "
                                  "(different library versions?); rerun with {option}",
                                  "overwrite")

    def _write(self, data: bytes) -> None:
        self._fh.write(data)
        self._fh.flush()

    def append(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
               compress: Iterable[str] = ()) -> Record:
        """Append one record (flushed to the OS at once, so it survives ``kill -9``)."""
        offset = self._fh.tell()
        data = encode_record({"kind": "sample", **meta}, arrays, compress)
        self._write(data)
        rec = Record(json.loads(json.dumps({"kind": "sample", **meta}, default=_plain)),
                     offset, len(data))
        self.samples.append(rec)
        return rec

    def load(self, keep_compressed: bool = False) -> Iterator[Record]:
        """The sample records with their arrays, one at a time (constant memory)."""
        self._fh.flush()
        with open(self.path, "rb") as fh:
            for rec in self.samples:
                yield read_record(fh, rec, keep_compressed)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JournalWriter:
    """Appends records to a :class:`Journal` from a background thread.

    Compression (zlib releases the GIL) and the file write then overlap with the
    next solve: on an idle 2-core machine the thread hides the compression even at
    Darcy 64^2 (blocking I/O share 13.7% -> 3.2%, ``benchmarks/generate.py``); on an
    oversubscribed machine the hand-off can cost about what it hides. At most
    ``depth`` solved samples wait in the queue; ``close()`` drains it (also on
    KeyboardInterrupt/SIGTERM, which only the main thread sees), so only a
    ``kill -9`` can lose a queued sample -- one that was just solved, and is
    solved again on resume.
    """

    def __init__(self, journal: Journal, depth: int = 2) -> None:
        self.journal, self.depth = journal, depth
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    self.journal.append(*item)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    self._error = exc

    def submit(self, meta: dict[str, Any], arrays: dict[str, np.ndarray],
               compress: tuple[str, ...]) -> None:
        """Queue one record (blocks while ``depth`` records wait)."""
        self._raise()
        if self._thread is None:
            self._queue = queue.Queue(maxsize=self.depth)
            self._thread = threading.Thread(target=self._run, name="rom-journal", daemon=True)
            self._thread.start()
        self._queue.put((meta, arrays, compress))

    def close(self) -> None:
        """Write everything queued, stop the thread, re-raise a write error."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
