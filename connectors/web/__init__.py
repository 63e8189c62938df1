"""The portal: web pages where researchers, engineers and administrators do their work.

A face, like the API (``connectors.http``) and the CLI (``connectors.cli``), and independent
of both (import-linter checks it): it parses a form or a path, calls a use case of
``allocator.services`` or ``accounting.services`` through the unit of work of
``connectors.bootstrap``, and renders a template. ``connectors.composition`` serves it under
``/portal/`` beside the API. See the README, section "The portal".
"""
