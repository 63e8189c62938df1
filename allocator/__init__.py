"""Who may use how many GPU-hours, when.

The allocator is part of the pure core: frozen dataclasses, enums and functions over them.
Nothing here imports a database, HTTP or framework library (an import-linter contract in CI
enforces it). Time is always a parameter; every datetime is tz-aware UTC.
"""
