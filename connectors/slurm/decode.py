"""The decoder: slurmdb ``jobs`` replies (v0.0.37 … v0.0.46) -> :class:`UsageRecord`.

The reply is read with the wire schema of :mod:`connectors.slurm.wire` (every version, the
fields accounting needs) and each job normalised by :mod:`connectors.slurm.normalise` (the
rules: state, times, GPUs and other TRES).

A record that does not fit (missing ``job_id``/``time``/``cluster``/``time.submission``,
wrong types) is *quarantined* with its raw JSON, its job id if one can be found and the
reason; the rest of the reply is still decoded. The envelope's ``errors[]`` are checked on
every reply: anything but ``9003 Nothing found`` raises (see :mod:`.errors`), even on HTTP 200.

Speed: the whole reply is decoded in one msgspec pass into typed structs; only if that fails
is the reply re-read with ``jobs`` as raw JSON fragments and decoded record by record.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from accounting.usage import UsageRecord
from connectors.slurm.errors import SlurmErrorItem, SlurmPayloadError, error_from_items
from connectors.slurm.normalise import normalise
from connectors.slurm.wire import (
    ErrorItem,
    WarningItem,
    job_decoder,
    probe_decoder,
    raw_reply_decoder,
    reply_decoder,
)

_GC_PAUSE_BYTES = 4_000_000  # about 1,000 records and more


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be normalised, kept verbatim for a human to look at."""

    raw: str
    reason: str
    job_id: int | None = None


class DecodedJobs(NamedTuple):
    """Everything usable in one reply: records, quarantined records, server warnings."""

    records: list[UsageRecord]
    quarantined: list[Quarantined]
    warnings: list[str]


# --- decoding ----------------------------------------------------------------------------------


def decode_jobs(body: bytes | str, *, path: str | None = None) -> DecodedJobs:
    """Decode a ``/slurmdb/v0.0.NN/jobs`` or ``/job/{id}`` reply of any supported version.

    Raises :class:`SlurmPayloadError` for invalid JSON or an envelope without ``jobs`` and
    without ``errors``, and the classified :class:`SlurmError` for ``errors[]`` other than
    9003. ``path`` only decorates error messages.
    """
    if len(body) < _GC_PAUSE_BYTES:
        return _decode(body, path)
    # Hundreds of thousands of new (GC-tracked) records make the cyclic collector rescan the
    # growing heap again and again: ~25 % of the time for 200k records. Nothing here creates
    # reference cycles, so the collector is paused for the duration of one big decode.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _decode(body, path)
    finally:
        if paused:
            gc.enable()


def _decode(body: bytes | str, path: str | None) -> DecodedJobs:
    try:
        reply = reply_decoder.decode(body)
    except msgspec.ValidationError:
        return _decode_per_record(body, path)
    except msgspec.DecodeError as exc:
        raise SlurmPayloadError(f"reply is not valid JSON: {exc}", path=path) from None
    warnings = _check_envelope(reply.errors, reply.warnings, reply.jobs is None, path)
    if not reply.jobs:
        return DecodedJobs([], [], warnings)
    records: list[UsageRecord] = []
    append = records.append
    normalise_job = normalise
    try:
        for job in reply.jobs:
            append(normalise_job(job))
    except Exception:  # a value msgspec accepted but the rules cannot use: be careful, go slow
        return _decode_per_record(body, path)
    return DecodedJobs(records, [], warnings)


def _decode_per_record(body: bytes | str, path: str | None) -> DecodedJobs:
    try:
        reply = raw_reply_decoder.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError included: the envelope itself is wrong
        raise SlurmPayloadError(f"not a slurmdb jobs reply: {exc}", path=path) from None
    warnings = _check_envelope(reply.errors, reply.warnings, reply.jobs is None, path)
    records: list[UsageRecord] = []
    quarantined: list[Quarantined] = []
    for raw in reply.jobs or ():
        try:
            records.append(normalise(job_decoder.decode(raw)))
        except msgspec.ValidationError as exc:
            quarantined.append(_quarantine(raw, str(exc)))
        except Exception as exc:  # a bad record must not fail the whole reply
            quarantined.append(_quarantine(raw, f"cannot normalise: {type(exc).__name__}: {exc}"))
    return DecodedJobs(records, quarantined, warnings)


def _quarantine(raw: msgspec.Raw, reason: str) -> Quarantined:
    text = bytes(raw).decode("utf-8", errors="replace")
    job_id: int | None = None
    try:
        probe = probe_decoder.decode(raw).job_id
    except msgspec.DecodeError:
        probe = None
    if isinstance(probe, int) and not isinstance(probe, bool):
        job_id = probe
    elif isinstance(probe, str) and probe.isdigit():
        job_id = int(probe)
    return Quarantined(raw=text, reason=reason, job_id=job_id)


def _check_envelope(
    errors: list[ErrorItem] | None,
    warnings: list[WarningItem] | None,
    jobs_missing: bool,
    path: str | None,
) -> list[str]:
    if errors:
        items = [
            SlurmErrorItem(e.error_number, e.error or "", e.description or "", e.source or "")
            for e in errors
        ]
        exc = error_from_items(items, path=path)
        if exc is not None:
            raise exc
    elif jobs_missing:
        raise SlurmPayloadError("reply has neither jobs[] nor errors[]", path=path)
    texts = []
    for w in warnings or ():
        text = w.description or w.warning or ""
        texts.append(f"{text} [{w.source}]" if w.source else text)
    return texts
