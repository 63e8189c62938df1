"""Who hears about what, once: the notification vocabulary, recipients and keys, driven
through the request use cases on fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from allocator import notices as n
from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.model import Project, ProjectKind, User
from tests.builders import ADMIN, ALICE, BOB, CAL, ENGINEER, H, World, seed_world
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CAROL = User("carol", ALICE.role)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def world(uow: FakeUnitOfWork) -> World:
    w = seed_world(uow, NOW)
    with uow:
        uow.users.add(CAROL)
        uow.users.add(User("admin2", ADMIN.role))
        uow.commit()
    # carol is a member of p3, whose PI is bob
    svc.create_project(
        uow, ADMIN, NOW, Project("p3", "chair-b", "P3", ProjectKind.THESIS, "bob", ("carol",))
    )
    return w


def told(uow: FakeUnitOfWork) -> list[tuple[str, str, str]]:
    """(kind, recipient, reason) of every notice in the outbox, sorted."""
    return sorted(
        (x.event.kind.value, x.recipient, x.why.value) for x in uow.committed_store.notices.values()
    )


def submit(uow: FakeUnitOfWork, actor: User = CAROL, project: str = "p3") -> int:
    return svc.submit_request(
        uow, actor, NOW, project, "nat", [("2026Q4", 10 * H)], "more hours", calendar=CAL
    ).id


class TestRequestsTellTheRightPeople:
    def test_a_submission_tells_every_admin_and_not_the_requester(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        submit(uow)
        assert told(uow) == [
            ("request.submitted", "admin", "admin"),
            ("request.submitted", "admin2", "admin"),
        ]

    def test_a_decision_tells_the_requester_and_the_pi_once_each(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = submit(uow)
        svc.approve_request(uow, ADMIN, NOW, rid, calendar=CAL)
        decided = [t for t in told(uow) if t[0] == "request.decided"]
        assert decided == [
            ("request.decided", "bob", "pi"),
            ("request.decided", "carol", "requester"),
        ]
        event = next(
            x.event
            for x in uow.committed_store.notices.values()
            if x.recipient == "carol" and x.event.kind is n.Kind.REQUEST_DECIDED
        )
        assert event.link == f"/portal/requests/{rid}"
        assert event.param("state") == "approved"
        assert event.param("granted_hours") == "10"

    def test_the_person_who_acted_is_not_told_of_their_own_action(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = submit(uow)
        svc.withdraw_request(uow, CAROL, NOW, rid, "not needed")
        assert [t for t in told(uow) if t[0] == "request.withdrawn"] == [
            ("request.withdrawn", "bob", "pi")
        ]

    def test_each_comment_is_told_once_to_requester_and_pi_but_not_its_author(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = submit(uow)
        svc.comment_request(uow, ENGINEER, NOW, rid, "which GPUs?")
        svc.comment_request(uow, BOB, NOW, rid, "A100s")
        comments = sorted(
            (x.event.key.rsplit(":", 1)[1], x.recipient)
            for x in uow.committed_store.notices.values()
            if x.event.kind is n.Kind.REQUEST_COMMENTED
        )
        assert comments == [("comment1", "bob"), ("comment1", "carol"), ("comment2", "carol")]

    def test_a_refused_decision_leaves_nothing_in_the_outbox(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = submit(uow)
        before = dict(uow.committed_store.notices)
        with pytest.raises(InvalidInput):
            svc.reject_request(uow, ADMIN, NOW, rid, " ")
        assert uow.committed_store.notices == before


class TestTheOnceRule:
    def test_the_same_event_seen_twice_is_stored_once(self) -> None:
        uow = FakeUnitOfWork()
        event = n.Event(n.Kind.USAGE_80, "usage.80:p1:nat:2026Q4:1", "project:p1", NOW)
        people = n.People(pi="alice", members=("bob", "alice"))
        with uow:
            assert uow.notices.add(n.notices(event, people)) == 2
            assert uow.notices.add(n.notices(event, people)) == 0
            uow.commit()
        assert told(uow) == [("usage.80", "alice", "pi"), ("usage.80", "bob", "member")]

    def test_a_notice_key_names_the_event_and_the_recipient(self) -> None:
        event = n.Event(n.Kind.USAGE_100, "usage.100:p1:nat:2026Q4:2", "project:p1", NOW)
        (notice,) = n.notices(event, n.People(pi="alice"))
        assert notice.key == "usage.100:p1:nat:2026Q4:2|alice"


class TestPreferences:
    def test_the_users_choice_wins_over_the_site_default_which_wins_over_immediate(self) -> None:
        kind, mail = n.Kind.REQUEST_COMMENTED, n.Channel.EMAIL
        site = n.Preference(n.SITE, kind, mail, n.Mode.DIGEST)
        mine = n.Preference("alice", kind, mail, n.Mode.OFF)
        assert n.mode_for("alice", kind, mail, []) is n.Mode.IMMEDIATE
        assert n.mode_for("alice", kind, mail, [site]) is n.Mode.DIGEST
        assert n.mode_for("alice", kind, mail, [site, mine]) is n.Mode.OFF
        assert n.mode_for("bob", kind, mail, [site, mine]) is n.Mode.DIGEST

    def test_a_decision_on_ones_request_cannot_be_turned_off_only_digested(self) -> None:
        with pytest.raises(InvalidInput) as err:
            n.check_preference("request.decided", "email", "off")
        assert err.value.field == "mode"
        assert n.check_preference("request.decided", "email", "digest")[2] is n.Mode.DIGEST
        stale = n.Preference(n.SITE, n.Kind.USAGE_100, n.Channel.EMAIL, n.Mode.OFF)
        assert n.mode_for("x", n.Kind.USAGE_100, n.Channel.EMAIL, [stale]) is n.Mode.DIGEST

    @pytest.mark.parametrize(
        ("kind", "channel", "mode", "field"),
        [
            ("request.eaten", "email", "off", "kind"),
            ("digest", "email", "off", "kind"),
            ("usage.80", "pigeon", "off", "channel"),
            ("usage.80", "email", "sometimes", "mode"),
        ],
    )
    def test_a_bad_preference_names_its_field(
        self, kind: str, channel: str, mode: str, field: str
    ) -> None:
        with pytest.raises(InvalidInput) as err:
            n.check_preference(kind, channel, mode)
        assert err.value.field == field
