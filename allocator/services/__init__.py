"""Use cases of the allocator: ``with uow: load -> rule -> journal -> commit``.

Every function takes its collaborators (unit of work, the acting user, the time) as
arguments. Every change of an amount is a ledger entry, every other change an audit event;
nothing is ever updated in place except a request's state (whose every transition is audited).

One module per concern; the package re-exports the public use cases, so callers write
``from allocator import services as svc; svc.create_pool(...)``:

- ``people``: users, chairs, projects, members, Slurm account mappings
- ``pools``: pools, grants, local capacity (open periods), rates, over-commit
- ``allocations``: pool -> chair -> project, release, transfer, adjustment
- ``requests``: submit, comment, approve, reject, withdraw
- ``rounds``: allocation rounds: open, weights, minimums, edits, approve whole
- ``lending``: lending and borrowing inside a chair: terms, lend, borrow, recall, return
- ``regulation``: each pool's regulation rule; simulate and apply its clawbacks
- ``project_end``: a project's end date (a thesis's defence) and the return of its hours after it
- ``reading``: the journal, the audit trail, lists of what an actor may see
- ``balances``: pool, chair and project balances
- ``_common`` (lookups, audit, entries) and ``_guards`` (pool lock, open period, capacity)
"""

from allocator.services._common import get_chair, get_pool, get_project, get_request
from allocator.services.allocations import (
    adjust,
    allocate_to_chair,
    allocate_to_project,
    release,
    transfer,
)
from allocator.services.balances import (
    chair_balances,
    pool_balances,
    project_balances,
    project_balances_in,
    reads_in,
    visible_balances,
)
from allocator.services.enforcement import apply as enforcement_apply
from allocator.services.enforcement import plan as enforcement_plan
from allocator.services.lending import (
    LendingView,
    borrow,
    lend,
    lending_view,
    recall,
    return_loans,
    set_lending_terms,
)
from allocator.services.notifications import (
    Preferences,
    preferences,
    set_language,
    set_preference,
)
from allocator.services.people import (
    add_member,
    create_chair,
    create_project,
    create_user,
    get_user,
    list_users,
    map_slurm_account,
    unmap_slurm_account,
)
from allocator.services.pools import (
    add_grant,
    create_pool,
    create_pool_with_grant,
    list_pools,
    open_period,
    pool_units,
    set_overcommit,
    set_rate,
)
from allocator.services.project_end import return_after_end, set_project_end
from allocator.services.reading import (
    audit_trail,
    chair,
    journal,
    journal_entry,
    list_chairs,
    list_projects,
    list_requests,
)
from allocator.services.regulation import (
    Outlook,
    apply_regulation,
    list_regulations,
    remove_regulation,
    set_regulation,
    simulate_regulation,
)
from allocator.services.requests import (
    approve_request,
    comment_request,
    reject_request,
    submit_request,
    withdraw_request,
)
from allocator.services.rounds import (
    RoundView,
    approve_round,
    edit_line,
    list_rounds,
    open_round,
    set_minimum,
    set_weights,
    show_round,
)

__all__ = [
    "LendingView",
    "Outlook",
    "Preferences",
    "RoundView",
    "add_grant",
    "add_member",
    "adjust",
    "allocate_to_chair",
    "allocate_to_project",
    "apply_regulation",
    "approve_request",
    "approve_round",
    "audit_trail",
    "borrow",
    "chair",
    "chair_balances",
    "comment_request",
    "create_chair",
    "create_pool",
    "create_pool_with_grant",
    "create_project",
    "create_user",
    "edit_line",
    "enforcement_apply",
    "enforcement_plan",
    "get_chair",
    "get_pool",
    "get_project",
    "get_request",
    "get_user",
    "journal",
    "journal_entry",
    "lend",
    "lending_view",
    "list_chairs",
    "list_pools",
    "list_projects",
    "list_regulations",
    "list_requests",
    "list_rounds",
    "list_users",
    "map_slurm_account",
    "open_period",
    "open_round",
    "pool_balances",
    "pool_units",
    "preferences",
    "project_balances",
    "project_balances_in",
    "reads_in",
    "recall",
    "reject_request",
    "release",
    "remove_regulation",
    "return_after_end",
    "return_loans",
    "set_language",
    "set_lending_terms",
    "set_minimum",
    "set_overcommit",
    "set_preference",
    "set_project_end",
    "set_rate",
    "set_regulation",
    "set_weights",
    "show_round",
    "simulate_regulation",
    "submit_request",
    "transfer",
    "unmap_slurm_account",
    "visible_balances",
    "withdraw_request",
]
