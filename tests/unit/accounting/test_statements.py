"""External statements: sreport, the national centre's CSV, any CSV through a column mapping.

A statement file is taken whole or not at all: every bad file raises a ``StatementError`` that
names the line (the header of a CSV is line 1) and the file's column, and returns nothing.
Amounts are exact integer seconds: GPU-seconds, and pool unit-seconds for normalised hours.
"""

from __future__ import annotations

import hashlib

import pytest

from accounting.errors import StatementError
from accounting.statements import (
    check_accounts,
    parse_sreport,
)
from tests.unit.accounting.statements_support import DIRECT, Q4, SREPORT, rejected

# --------------------------------------------------------------------------------------------
# unknown accounts, and the digest that makes imports idempotent


def test_check_accounts_names_the_first_unknown_account():
    statement = parse_sreport(SREPORT, period=Q4, file_name="h07.psv")
    check_accounts(statement, DIRECT.__contains__)  # all known: nothing to say

    with pytest.raises(StatementError) as caught:
        check_accounts(statement, {"chair-health"}.__contains__)
    assert "'chair-nlp'" in rejected(caught, 9, "account")


def test_same_bytes_same_digest_one_byte_changed_another():
    first = parse_sreport(SREPORT, period=Q4, file_name="h07.psv")
    again = parse_sreport(bytes(SREPORT), period=Q4, file_name="renamed.psv")
    assert first.sha256 == again.sha256 == hashlib.sha256(SREPORT).hexdigest()
    assert first.lines == again.lines

    changed = SREPORT.replace(b"alice||gres/gpu|128", b"alice||gres/gpu|129")
    assert len(changed) == len(SREPORT)
    other = parse_sreport(changed, period=Q4, file_name="h07.psv")
    assert other.sha256 != first.sha256
    assert {x.account: x.gpu_seconds for x in other.lines}["chair-nlp"] == 129
