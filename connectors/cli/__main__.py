"""``python -m connectors.cli``: the ``gpuhours`` command."""

import sys

from connectors.cli import main

sys.exit(main())
