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
}
