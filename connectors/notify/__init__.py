"""Notifications at the edge: messages (``messages``), channels (``channels``) and the worker
that delivers the outbox (``worker``). The events, recipients and the once rule are in the
core (``allocator.notices``, ``accounting.alerts``)."""
