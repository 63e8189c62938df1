"""The wire schema of slurmdb ``jobs`` replies (v0.0.37 … v0.0.46): the fields per version.

One tolerant msgspec schema reads every version; it declares only the fields accounting
needs and ignores the rest (new fields never break it). The three shape families are covered
by union types rather than three schemas:

=============  ===================  ===========================  ==============================
family         ``state.current``    ``array.task_id`` /          "not set" in ``time.*``
                                    ``het.job_offset``
=============  ===================  ===========================  ==============================
v0.0.37/38     string               int or ``null``              ``0`` or ``null``
v0.0.39        string               no-val object                ``0``
v0.0.40+       list of strings      no-val object                ``0``, 4294967294, 4294967295
=============  ===================  ===========================  ==============================

(no-val object = ``{"set": bool, "infinite": bool, "number": int}``). ``restart_cnt``
appears in v0.0.42, ``sluid`` in v0.0.45; both are optional here.

``connectors.slurm.normalise`` turns a :class:`Job` into a ``UsageRecord``;
``connectors.slurm.decode`` reads whole replies with these structs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

#: API versions this decoder understands (the client speaks v0.0.38 and newer).
MIN_VERSION, MAX_VERSION = 37, 46
_VERSION_RE = re.compile(r"v0\.0\.(\d+)")


def version_number(api_version: str) -> int:
    """``"v0.0.43"`` -> 43; raises ``ValueError`` for anything else or an unsupported one."""
    match = _VERSION_RE.fullmatch(api_version.strip())
    if not match:
        raise ValueError(f"not a Slurm REST API version: {api_version!r}")
    number = int(match.group(1))
    if not MIN_VERSION <= number <= MAX_VERSION:
        raise ValueError(f"unsupported Slurm REST API version: {api_version}")
    return number


# --- the schema: only what accounting needs; unknown fields are ignored by msgspec -----------


class NoVal(msgspec.Struct, gc=False):
    set: bool = False
    infinite: bool = False
    number: int | None = None


IntOrNoVal = int | NoVal | None


class Tres(msgspec.Struct, gc=False):
    type: str | None = None
    name: str | None = None
    count: int | None = None


class TresGroups(msgspec.Struct, gc=False):
    allocated: tuple[Tres, ...] | None = None


class Time(msgspec.Struct, gc=False):
    submission: Annotated[int, msgspec.Meta(ge=1)]
    start: int | None = None
    end: int | None = None
    elapsed: int | None = None


class State(msgspec.Struct, gc=False):
    current: str | tuple[str, ...] | None = None


class Array(msgspec.Struct, gc=False):
    job_id: int | None = None
    task_id: IntOrNoVal = None


class Het(msgspec.Struct, gc=False):
    job_id: int | None = None
    job_offset: IntOrNoVal = None


class Job(msgspec.Struct, gc=False):
    job_id: Annotated[int, msgspec.Meta(ge=1)]
    cluster: Annotated[str, msgspec.Meta(min_length=1)]
    time: Time
    account: str | None = None
    user: str | None = None
    partition: str | None = None
    qos: str | None = None
    state: State | None = None
    tres: TresGroups | None = None
    array: Array | None = None
    het: Het | None = None
    restart_cnt: int | None = None
    sluid: str | None = None


class ErrorItem(msgspec.Struct, gc=False):
    error_number: int | None = None
    error: str | None = None
    description: str | None = None
    source: str | None = None


class WarningItem(msgspec.Struct, gc=False):
    description: str | None = None
    source: str | None = None
    warning: str | None = None


class Reply(msgspec.Struct, gc=False):
    jobs: list[Job] | None = None
    errors: list[ErrorItem] | None = None
    warnings: list[WarningItem] | None = None


class RawReply(msgspec.Struct, gc=False):
    jobs: list[msgspec.Raw] | None = None
    errors: list[ErrorItem] | None = None
    warnings: list[WarningItem] | None = None


class JobIdProbe(msgspec.Struct, gc=False):
    job_id: Any = None


reply_decoder = msgspec.json.Decoder(Reply)
raw_reply_decoder = msgspec.json.Decoder(RawReply)
job_decoder = msgspec.json.Decoder(Job)
probe_decoder = msgspec.json.Decoder(JobIdProbe)


# --- the version a document declares (files, ``sacct --json``) ---------------------------------


class _Plugin(msgspec.Struct, gc=False):
    type: str | None = None
    data_parser: str | None = None


class _Meta(msgspec.Struct, gc=False):
    plugin: _Plugin | None = None


class _Doc(msgspec.Struct, gc=False):
    meta: _Meta | None = None


_doc_decoder = msgspec.json.Decoder(_Doc)


def detect_version(body: bytes | str) -> str | None:
    """The API version a reply declares in ``meta.plugin`` (``data_parser`` first), if any.

    Used for documents that arrive without a URL (``sacct --json``, files).
    """
    try:
        doc = _doc_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    plugin = doc.meta.plugin if doc.meta else None
    for text in (plugin.data_parser, plugin.type) if plugin else ():
        match = _VERSION_RE.search(text or "")
        if match:
            return match.group(0)
    return None
