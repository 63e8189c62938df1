"""Words the templates show from data (``word(user.role.value)``): roles, kinds of project,
states of a request. Marked here, with :func:`N_`, so that the catalogue has them; in English
a few read better than the value itself (:data:`ENGLISH`)."""

from __future__ import annotations


def N_(message: str) -> str:  # gettext's name for "mark, translate later"
    return message


WORDS = (
    N_("researcher"),
    N_("engineer"),
    N_("admin"),
    N_("scraper"),
    N_("thesis"),
    N_("rnd"),
    N_("teaching"),
    N_("other"),
    N_("submitted"),
    N_("approved"),
    N_("partially_approved"),
    N_("rejected"),
    N_("withdrawn"),
    # allocation rounds: states, and why a line has its amount
    N_("open"),
    N_("closed"),
    N_("edited"),
    # reconciliation statuses
    N_("match"),
    N_("over"),
    N_("under"),
    N_("missing_statement"),
    N_("missing_ours"),
    N_("accepted"),
    N_("adjusted"),
    # close policies
    N_("expire"),
    N_("carryover"),
    N_("return"),
    # lending policies; regulation rules and where reclaimed hours go
    N_("period_end"),
    N_("recall"),
    N_("genci"),
    N_("tgcc"),
    N_("chair"),
    N_("pool"),
    # notification modes, audiences and who chose
    N_("immediate"),
    N_("digest"),
    N_("off"),
    N_("requester"),
    N_("pi"),
    N_("member"),
    N_("chosen-user"),
    N_("chosen-site"),
    N_("chosen-default"),
    # notification kinds
    N_("request.submitted"),
    N_("request.commented"),
    N_("request.decided"),
    N_("request.withdrawn"),
    N_("usage.80"),
    N_("usage.100"),
    N_("usage.exhaustion_forecast"),
    N_("grant.under_consumption"),
    N_("period.ending_unreconciled"),
    N_("period.unclosed"),
    N_("ingestion.stale"),
    N_("enforcement.changed"),
    N_("project.ending"),
)

#: How English shows the values that are not words.
ENGLISH = {
    "rnd": "R&D",
    "partially_approved": "partially approved",
    "admin": "administrator",
    "over": "ours above the statement",
    "under": "ours below the statement",
    "missing_statement": "not on the statement",
    "missing_ours": "missing ours",
    "carryover": "carry over",
    "return": "return to the chair",
    "period_end": "loans return at the period's end",
    "recall": "the lender may also recall its loans",
    "genci": "GENCI: under-used after some months",
    "tgcc": "TGCC: behind a linear plan",
    "chair": "back to the chair",
    "pool": "back to the pool",
    "immediate": "at once",
    "digest": "daily digest",
    "pi": "principal investigator",
    "chosen-user": "you",
    "chosen-site": "the site",
    "chosen-default": "the default",
    "request.submitted": "a request is submitted",
    "request.commented": "a request is commented on",
    "request.decided": "a request is decided",
    "request.withdrawn": "a request is withdrawn",
    "usage.80": "80 % of the hours used",
    "usage.100": "all the hours used",
    "usage.exhaustion_forecast": "hours run out before the period ends",
    "grant.under_consumption": "a national grant is under-used",
    "period.ending_unreconciled": "a period ends with unreconciled lines",
    "period.unclosed": "an ended period is not closed",
    "ingestion.stale": "a cluster's ingestion fails or lags",
    "enforcement.changed": "Slurm limits change",
    "project.ending": "a project nears its end date",
}
