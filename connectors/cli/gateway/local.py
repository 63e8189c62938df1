"""The gateway on this host's database: the use cases, as the administrator ``cli:<login>``,
rendered as the API renders them."""

from __future__ import annotations

from typing import Any

from accounting import services as acc
from allocator import hours as hours_rule
from allocator import services as svc
from allocator.errors import InvalidInput, NotFound
from allocator.model import RequestState, SlurmAccount
from connectors.bootstrap import Services
from connectors.cli import render
from connectors.cli._common import cli_actor, hours_arg, seconds_arg, time_arg, tolerance_arg
from connectors.cli.gateway import JSON, Lines, StatementUpload
from connectors.cli.gateway.local_lending import LocalLending, LocalRegulation
from connectors.cli.pool_file import parse_pool_file
from connectors.db.identities import SqlIdentities
from connectors.presenters import reports as present_report
from connectors.presenters import rounds as present_round
from connectors.tokens import list_tokens, revoke
from connectors.values import column_mapping, decision_amount


def _seconds(lines: Lines, field: str, sign: hours_rule.Sign) -> list[tuple[str, int]]:
    return [(p, hours_rule.to_seconds(hours_arg(h, field, sign))) for p, h in lines]


class LocalGateway(LocalLending, LocalRegulation):
    def __init__(self, sv: Services) -> None:
        self.sv = sv
        self.actor = cli_actor()

    def me(self) -> JSON:
        return render.user(self.actor) | {"server": None}

    def users(self) -> JSON:
        return [render.user(u) for u in svc.list_users(self.sv.uow(), self.actor)]

    def set_active(self, username: str, active: bool) -> JSON:
        identities = SqlIdentities(self.sv.engine)
        if not identities.set_active(username, active, self.actor.username, self.sv.clock()):
            raise NotFound("user", username, field="username")
        return {"username": username, "active": active}

    def pools(self) -> JSON:
        return [render.pool(p) for p in svc.list_pools(self.sv.uow(), self.actor)]

    def pool_balance(self, pool_id: str, period: str | None) -> JSON:
        balance = svc.pool_balances(
            self.sv.uow(),
            self.actor,
            pool_id,
            period,
            now=self.sv.clock(),
            calendar=self.sv.settings.calendar,
        )
        return render.pool_balance(balance, self.sv.pool_units.get(balance.pool_id))

    def chairs(self) -> JSON:
        return [render.chair(c) for c in svc.list_chairs(self.sv.uow(), self.actor)]

    def projects(self, chair_id: str | None) -> JSON:
        return [render.project(p) for p in svc.list_projects(self.sv.uow(), self.actor, chair_id)]

    def map_account(self, project_id: str, cluster: str, account: str) -> JSON:
        mapping = SlurmAccount(cluster, account)
        project = svc.map_slurm_account(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            project_id,
            mapping,
            clusters=self.sv.settings.cluster_names(),
        )
        return render.project(project)

    def unmap_account(self, project_id: str, cluster: str, account: str) -> JSON:
        mapping = SlurmAccount(cluster, account)
        project = svc.unmap_slurm_account(
            self.sv.uow(), self.actor, self.sv.clock(), project_id, mapping
        )
        return render.project(project)

    def balances(self, period: str | None, pool_id: str | None) -> JSON:
        # one read-only statement: beside a running server's writer, never waiting for it
        rows = svc.visible_balances(
            self.sv.balance_reads,
            self.actor,
            period,
            [pool_id] if pool_id else None,
            now=self.sv.clock(),
            calendar=self.sv.settings.calendar,
        )
        return [render.project_balance(b, self.sv.pool_units.get(b.pool_id)) for b in rows]

    def journal(self, pool_id: str | None, period: str | None, account: str | None) -> JSON:
        entries = svc.journal(
            self.sv.uow(),
            self.actor,
            pool_id,
            period,
            account,
            now=self.sv.clock(),
            calendar=self.sv.settings.calendar,
        )
        newest_first = sorted(entries, key=lambda e: -(e.id or 0))  # as the API lists them
        return render.entries(newest_first, self.sv.pool_units)

    def requests(self, state: str | None) -> JSON:
        try:
            wanted = RequestState(state) if state else None
        except ValueError:
            states = ", ".join(s.value for s in RequestState)
            raise InvalidInput("state", f"{state!r} is not one of {states}") from None
        rows = svc.list_requests(self.sv.uow(), self.actor, wanted)
        return [render.request(r, self.sv.pool_units.get(r.pool_id)) for r in rows]

    def request(self, request_id: int) -> JSON:
        with self.sv.uow(read_only=True) as uow:
            found = svc.get_request(uow, request_id, self.actor)
        return render.request(found, self.sv.pool_units.get(found.pool_id))

    def submit(
        self, project_id: str, pool_id: str, lines: Lines, justification: str, gpu_type: str | None
    ) -> JSON:
        r = svc.submit_request(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            project_id,
            pool_id,
            _seconds(lines, "period", hours_rule.Sign.POSITIVE),
            justification,
            gpu_type,
            calendar=self.sv.settings.calendar,
        )
        return render.request(r, self.sv.pool_units.get(r.pool_id))

    def withdraw(self, request_id: int, reason: str) -> JSON:
        r = svc.withdraw_request(self.sv.uow(), self.actor, self.sv.clock(), request_id, reason)
        return render.request(r, self.sv.pool_units.get(r.pool_id))

    def comment(self, request_id: int, text: str) -> JSON:
        r = svc.comment_request(self.sv.uow(), self.actor, self.sv.clock(), request_id, text)
        return render.request(r, self.sv.pool_units.get(r.pool_id))

    def approve(self, request_id: int, granted: Lines | None, reason: str) -> JSON:
        amounts = None
        if granted is not None:
            amounts = _seconds(granted, "grant", hours_rule.Sign.ZERO_OR_MORE)
        try:
            r = svc.approve_request(
                self.sv.uow(),
                self.actor,
                self.sv.clock(),
                request_id,
                amounts,
                reason,
                calendar=self.sv.settings.calendar,
            )
        except InvalidInput as exc:  # the API's "granted" is the CLI's --grant
            raise (InvalidInput("grant", exc.reason) if exc.field == "granted" else exc) from None
        return render.request(r, self.sv.pool_units.get(r.pool_id))

    def reject(self, request_id: int, reason: str) -> JSON:
        r = svc.reject_request(self.sv.uow(), self.actor, self.sv.clock(), request_id, reason)
        return render.request(r, self.sv.pool_units.get(r.pool_id))

    def tokens(self, username: str | None, active: bool) -> JSON:
        now = self.sv.clock()
        infos = list_tokens(self.sv.session_factory, self.actor, now, username, active_only=active)
        return [render.token_info(i, now) for i in infos]

    def revoke_token(self, token_id: int, reason: str) -> JSON:
        now = self.sv.clock()
        info = revoke(self.sv.session_factory, self.actor, token_id, now, reason)
        return render.token_info(info, now)

    def burn(self, period: str | None, pool_id: str | None) -> JSON:
        rows = acc.burn_rates(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            period,
            pool_id,
            calendar=self.sv.settings.calendar,
        )
        return [render.burn(r, self.sv.pool_units.get(r.balance.pool_id)) for r in rows]

    def jobs(
        self, period: str | None, project_id: str | None, pool_id: str | None, limit: int
    ) -> JSON:
        rows = acc.project_jobs(
            self.sv.uow(read_only=True),
            self.actor,
            period,
            project_id,
            pool_id,
            limit,
            now=self.sv.clock(),
            calendar=self.sv.settings.calendar,
        )
        return [render.project_job(r) for r in rows]

    # pools and allocations ---------------------------------------------------------------

    def create_pool(self, definition: str) -> JSON:
        body = parse_pool_file(definition)
        pool = svc.create_pool_with_grant(  # one transaction: no pool without its grant
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            body.pool,
            body.grant_seconds,
            calendar=self.sv.settings.calendar,
        )
        return render.pool(pool)

    def grant(self, pool_id: str, hours: str, reason: str) -> JSON:
        entries = svc.add_grant(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            pool_id,
            seconds_arg(hours),
            reason,
            calendar=self.sv.settings.calendar,
        )
        return render.entries(entries, self.sv.pool_units)

    def allocate_chair(
        self, pool_id: str, chair_id: str, period: str, hours: str, reason: str
    ) -> JSON:
        entry = svc.allocate_to_chair(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            pool_id,
            chair_id,
            period,
            seconds_arg(hours),
            reason,
            calendar=self.sv.settings.calendar,
        )
        return render.entry(entry, self.sv.pool_units.get(entry.pool_id))

    def allocate_project(
        self, pool_id: str, project_id: str, period: str, hours: str, reason: str, draw: bool
    ) -> JSON:
        *drawn, allocation = svc.allocate_to_project(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            pool_id,
            project_id,
            period,
            seconds_arg(hours),
            reason,
            draw,
            calendar=self.sv.settings.calendar,
        )
        unit = self.sv.pool_units.get(pool_id)
        from_pool = render.entry(drawn[0], unit) if drawn else None
        return render.entry(allocation, unit) | {"drawn_from_pool": from_pool}

    # the quarter -----------------------------------------------------------------------

    def import_statement(self, upload: StatementUpload) -> JSON:
        mapping = column_mapping(upload.fmt, upload.columns, upload.delimiter)
        info = acc.import_statement(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            upload.pool_id,
            upload.period,
            upload.fmt,
            upload.content,
            upload.file_name,
            mapping,
            calendar=self.sv.settings.calendar,
        )
        return render.statement(info)

    def statements(self, pool_id: str | None, period: str | None) -> JSON:
        infos = acc.list_statements(self.sv.uow(), self.actor, pool_id, period, **self._when())
        return [render.statement(i) for i in sorted(infos, key=lambda i: -i.id)]

    def reconcile(self, pool_id: str, period: str, seconds: int, percent: str) -> JSON:
        tolerance = tolerance_arg(seconds, percent)
        rec = acc.reconcile(self.sv.uow(), self.actor, pool_id, period, tolerance, **self._when())
        return render.reconciliation(rec)

    def jobs_behind(self, pool_id: str, period: str, project_id: str) -> JSON:
        found = acc.jobs_behind(
            self.sv.uow(), self.actor, pool_id, period, project_id, **self._when()
        )
        return [render.job(j) for j in found]

    def decide(
        self, action: str, pool_id: str, period: str, project_id: str, hours: str, reason: str
    ) -> JSON:
        amount = decision_amount(action, hours_arg(hours, "hours", hours_rule.Sign.SIGNED))
        rec = acc.decide(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            pool_id,
            period,
            project_id,
            action,
            amount,
            reason,
            calendar=self.sv.settings.calendar,
        )
        return render.reconciliation(rec)

    def report(self, period: str, fmt: str) -> str:
        found = acc.report(self.sv.uow(), self.actor, period, **self._when())
        return present_report.rendered(found, fmt)[0]

    def close(self, period: str, reason: str, force: bool) -> str:
        signed = acc.close_period(
            self.sv.uow(),
            self.actor,
            self.sv.clock(),
            period,
            reason,
            force,
            calendar=self.sv.settings.calendar,
            clock=self.sv.clock,
        )
        return present_report.rendered(signed, "json")[0]

    # ingestion -------------------------------------------------------------------------

    def clusters(self) -> JSON:
        configured = {c.name: c.source for c in self.sv.settings.clusters}
        epoch = int(self.sv.clock().timestamp())
        found = acc.cluster_health(
            self.sv.uow(), self.actor, self.sv.usage_store(), configured, epoch
        )
        return [render.cluster_health(h) for h in found]

    def account_usage(self, cluster: str | None, unmapped: bool, period: str | None) -> JSON:
        found = acc.account_usage(
            self.sv.uow(), self.actor, cluster, unmapped, period, **self._when()
        )
        return [render.account_usage(u) for u in found]

    def quarantine(self, cluster: str | None) -> JSON:
        found = acc.quarantine(self.sv.uow(), self.actor, cluster)
        return [render.quarantined(q) for q in sorted(found, key=lambda q: -q.id)]

    # allocation rounds -----------------------------------------------------------------

    def rounds(self) -> JSON:
        now = self.sv.clock()
        found = svc.list_rounds(self.sv.uow(read_only=True), self.actor)
        return [render.jsonable(present_round.allocation_round(r, r.state(now))) for r in found]

    def round(self, round_id: int) -> JSON:
        calendar = self.sv.settings.calendar
        shown = svc.show_round(
            self.sv.uow(read_only=True), self.actor, self.sv.clock(), round_id, calendar=calendar
        )
        return render.jsonable(present_round.view(shown))

    def open_round(self, period: str, pool_ids: list[str], deadline: str) -> JSON:
        when = time_arg(deadline, "deadline")
        calendar = self.sv.settings.calendar
        opened = svc.open_round(
            self.sv.uow(), self.actor, self.sv.clock(), period, pool_ids, when, calendar=calendar
        )
        return self.round(opened.id)

    def round_weights(self, round_id: int, weights: list[tuple[str, int]]) -> JSON:
        svc.set_weights(self.sv.uow(), self.actor, self.sv.clock(), round_id, weights)
        return self.round(round_id)

    def round_minimum(self, round_id: int, request_id: int, hours: str, reason: str) -> JSON:
        amount = hours_rule.to_seconds(hours_arg(hours, "hours", hours_rule.Sign.ZERO_OR_MORE))
        now = self.sv.clock()
        svc.set_minimum(self.sv.uow(), self.actor, now, round_id, request_id, amount, reason)
        return self.round(round_id)

    def round_edit(self, round_id: int, request_id: int, hours: str, reason: str) -> JSON:
        amount = hours_rule.to_seconds(hours_arg(hours, "hours", hours_rule.Sign.ZERO_OR_MORE))
        now = self.sv.clock()
        svc.edit_line(self.sv.uow(), self.actor, now, round_id, request_id, amount, reason)
        return self.round(round_id)

    def approve_round(self, round_id: int, reason: str) -> JSON:
        calendar = self.sv.settings.calendar
        now = self.sv.clock()
        svc.approve_round(self.sv.uow(), self.actor, now, round_id, reason, calendar=calendar)
        return self.round(round_id)

    def _when(self) -> dict[str, Any]:
        """The time and the calendar a read of periods takes."""
        return {"now": self.sv.clock(), "calendar": self.sv.settings.calendar}
