"""Rendered files: the hashing spool every export passes through, and where job files are kept.

A spool keeps the first few MiB in memory and the rest in a temporary file, hashing and counting the
bytes as they are written; so a streamed export knows its SHA-256 and length before the first byte is
sent, and a job knows its size before anything is stored. Job files live either in the ExportJob row
(`EXPORT_STORAGE=database`) or under `EXPORT_STORAGE_DIR` (`filesystem`, path relative to it in
`file_path`); reads and deletes follow where the job's file actually is, so changing the setting
never strands an existing file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from records.models import ExportJob

SPOOL_MEMORY_BYTES = 4 * 2**20
FLUSH_CHARS = 256 * 2**10
READ_CHUNK = 256 * 2**10
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
    "bundle": "application/zip",
}
EXTENSIONS = {"json": "json", "csv": "csv", "pdf": "pdf", "bundle": "zip"}


class ExportTooLarge(Exception):
    """A job's file passed EXPORT_MAX_BYTES; the job fails without retrying (it would again)."""


class HashingSpool:
    """Write text once; read back bytes with their SHA-256 and size. Memory stays bounded."""

    def __init__(self, *, max_bytes: int | None = None) -> None:
        # Closed by close() (chunks() calls it when the response is done).
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self._hash = hashlib.sha256()
        self._pending: list[str] = []
        self._pending_chars = 0
        self._max_bytes = max_bytes
        self.size = 0

    def write(self, text: str) -> None:
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        data = "".join(self._pending).encode("utf-8")
        self._pending, self._pending_chars = [], 0
        self.size += len(data)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise ExportTooLarge(f"the file passed {self._max_bytes} bytes")
        self._hash.update(data)
        self._file.write(data)

    @property
    def sha256(self) -> str:
        self.flush()
        return self._hash.hexdigest()

    def chunks(self) -> Iterator[bytes]:
        """The bytes from the start; closes the spool when done or when the consumer stops early."""
        self.flush()
        try:
            self._file.seek(0)
            while chunk := self._file.read(READ_CHUNK):
                yield chunk
        finally:
            self.close()

    def read_bytes(self) -> bytes:
        self.flush()
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        self._file.close()


def export_filename(*, fmt: str, customer_record_id: str, label: str) -> str:
    """Download names carry the record id and scope label, never a tenant or vendor name (proofs.md §7.1)."""
    stem = "records" if fmt in ("json", "csv") else ("statement" if fmt == "pdf" else "bundle")
    return f"{stem}-{customer_record_id}-{label}.{EXTENSIONS[fmt]}"


def _storage_dir() -> Path:
    return Path(settings.EXPORT_STORAGE_DIR)


def file_store(*, export_id: str, fmt: str, data: bytes) -> tuple[bytes | None, str]:
    """Keep a job's bytes per EXPORT_STORAGE; returns the (content, file_path) pair to save on the job.

    Each render writes a name of its own (random suffix), so a late duplicate render of the same job can
    never overwrite the file a READY job points at.
    """
    if settings.EXPORT_STORAGE != "filesystem":
        return data, ""
    directory = _storage_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{export_id}-{secrets.token_hex(4)}.{EXTENSIONS[fmt]}"
    partial = directory / f".{name}.partial"
    partial.write_bytes(data)
    os.replace(partial, directory / name)  # readers see the whole file or none
    return None, name


def file_open(job: ExportJob) -> bytes | Path | None:
    """The stored bytes (database) or the path of the stored file (filesystem); None when it is gone."""
    if job.content is not None:
        return bytes(job.content)
    if job.file_path:
        path = _storage_dir() / job.file_path
        return path if path.is_file() else None
    return None


def file_delete(file_path: str) -> None:
    if file_path:
        with contextlib.suppress(FileNotFoundError):
            (_storage_dir() / file_path).unlink()
