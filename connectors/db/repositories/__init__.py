"""SQL repositories: ``select()`` queries and explicit row <-> domain mapping, one module per
aggregate. The classes are re-exported here: ``from connectors.db.repositories import SqlPools``.
"""

from connectors.db.repositories.audit import SqlAudit
from connectors.db.repositories.ledger import SqlLedger
from connectors.db.repositories.people import SqlChairs, SqlProjects, SqlUsers
from connectors.db.repositories.pools import SqlPools
from connectors.db.repositories.requests import SqlRequests

__all__ = [
    "SqlAudit",
    "SqlChairs",
    "SqlLedger",
    "SqlPools",
    "SqlProjects",
    "SqlRequests",
    "SqlUsers",
]
