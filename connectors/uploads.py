"""A multipart/form-data body, read with the standard library (``email``): its text fields and
its file part. The API's statement upload and the portal's upload form share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser

MULTIPART = "multipart/form-data"


@dataclass(frozen=True, slots=True)
class Multipart:
    """The parts of a form: text fields by name (the first of each name), and the file part
    named ``file`` (``None`` when there is none)."""

    fields: dict[str, str] = field(default_factory=dict)
    file: bytes | None = None
    file_name: str | None = None


def read_multipart(content_type: str, data: bytes) -> Multipart:
    """The parts of a ``multipart/form-data`` body sent with ``content_type``."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + data)
    fields: dict[str, str] = {}
    file: bytes | None = None
    file_name: str | None = None
    if not message.is_multipart():
        return Multipart()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if name == "file" and file is None:
            file, file_name = content, part.get_filename()
        elif isinstance(name, str) and name not in fields:
            fields[name] = content.decode("utf-8", "replace").replace("\x00", "")
    return Multipart(fields, file, file_name)
