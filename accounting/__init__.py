"""What was used, what it costs, and whether it matches the statements.

Part of the pure core, like ``allocator``: no database, HTTP or framework imports (checked in
CI by import-linter). GPU usage is integer GPU-seconds; Slurm times are integer epoch seconds.
"""
