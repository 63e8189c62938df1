"""The accounting use cases: the quarter (statements, reconciliation, decisions, report, close,
period state, burn), usage views and housekeeping.

Each takes its collaborators (a unit of work of :mod:`accounting.ports`, the acting user, the
time, the site's calendar) and returns plain values; the faces call them as
``from accounting import services as acc; acc.report(...)``.
"""

from accounting.services.alerting import DetectorSettings, detect
from accounting.services.burn import ProjectBurn, burn_rates, burns
from accounting.services.closing import (
    UNRESOLVED,
    ClosePreview,
    PeriodState,
    close_period,
    close_preview,
    live_report,
    period_state,
    report,
)
from accounting.services.housekeeping import SYSTEM, auto_close, check_rollups, remind
from accounting.services.job_breakdown import Job, PoolJobs, Share, job_breakdown
from accounting.services.project_usage import PoolUse, ProjectUse, TypeUse, project_usage
from accounting.services.reconciliation import (
    Reconciliation,
    decide,
    jobs_behind,
    reconcile,
    reconcile_period,
)
from accounting.services.statements import import_statement, list_statements
from accounting.services.usage_views import (
    ClusterHealth,
    ProjectJob,
    account_usage,
    cluster_health,
    project_jobs,
    quarantine,
)

__all__ = [
    "SYSTEM",
    "UNRESOLVED",
    "ClosePreview",
    "ClusterHealth",
    "DetectorSettings",
    "Job",
    "PeriodState",
    "PoolJobs",
    "PoolUse",
    "ProjectBurn",
    "ProjectJob",
    "ProjectUse",
    "Reconciliation",
    "Share",
    "TypeUse",
    "account_usage",
    "auto_close",
    "burn_rates",
    "burns",
    "check_rollups",
    "close_period",
    "close_preview",
    "cluster_health",
    "decide",
    "detect",
    "import_statement",
    "job_breakdown",
    "jobs_behind",
    "list_statements",
    "live_report",
    "period_state",
    "project_jobs",
    "project_usage",
    "quarantine",
    "reconcile",
    "reconcile_period",
    "remind",
    "report",
]
