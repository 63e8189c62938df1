"""The domain's values as plain dicts: what every face shows of them, written once.

Each function takes one of the use cases' frozen dataclasses and returns a dict of plain
values (``str``, ``int``, ``float``, ``bool``, ``None``, enums, aware ``datetime``, lists and
dicts of them) whose keys are the answer's fields in order. The API validates it into its
response schema; the CLI prints it as JSON; neither writes the field list again.
"""
