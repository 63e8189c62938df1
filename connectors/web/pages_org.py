"""The administrators' organisation: the chairs, and forms to create a chair and a project
(members and Slurm accounts are then added on the project's own page). The same use cases as
``POST /api/v1/chairs`` and ``/projects``; a refusal is shown beside its field and nothing is
written."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError, NotFound
from allocator.model import Chair, Project, ProjectKind, Role, User
from connectors.values import is_slug
from connectors.web import forms
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()


def _organisation(visit: Visit, user: User) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    uow = visit.services.uow(read_only=True)
    return {
        "chairs": svc.list_chairs(uow, user),
        "kinds": [k.value for k in ProjectKind],
    }


def _show(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str, typed: dict[str, str]
) -> Response:
    _ = visit.speaker.gettext
    return page(
        visit, "organisation.html", 422 if errors else 200, title=_("Chairs and projects"),
        errors=errors, done=done, typed=typed, **found,
    )  # fmt: skip


@router.get("/organisation")
async def organisation(request: Request, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_organisation, visit, visit.user)
    return _show(visit, found, {}, done if done.isalpha() else "", {})


def _check_id(visit: Visit, value: str, field: str) -> None:
    if not is_slug(value):
        text = visit.speaker.gettext(
            "Use letters, digits and . _ @ - (starting with a letter or a digit), at most 64."
        )
        raise forms.FieldErrors({field: text})


def _new_chair(visit: Visit, user: User, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    chair_id, name = form.get("id", "").strip(), form.get("name", "").strip()
    _check_id(visit, chair_id, "chair-id")
    if not name:
        raise forms.FieldErrors({"chair-name": visit.speaker.gettext("Give the chair's name.")})
    chair = Chair(chair_id, name, form.get("institution", "").strip())
    try:
        svc.create_chair(visit.services.uow(), user, visit.services.clock(), chair)
    except AllocatorError as exc:
        raise forms.place(exc, {"id": "chair-id"}, visit.speaker) from None
    return "chair"


def _new_project(visit: Visit, user: User, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    project_id, name = form.get("id", "").strip(), form.get("name", "").strip()
    _check_id(visit, project_id, "project-id")
    if not name:
        text = visit.speaker.gettext("Give the project's name.")
        raise forms.FieldErrors({"project-name": text})
    try:
        kind = ProjectKind(form.get("kind", ""))
    except ValueError:
        raise forms.FieldErrors({"project-kind": visit.speaker.gettext("Choose a kind.")}) from None
    project = Project(project_id, form.get("chair_id", ""), name, kind, form.get("pi", "").strip())
    services = visit.services
    try:
        svc.create_project(
            services.uow(), user, services.clock(), project,
            clusters=services.settings.cluster_names(),
        )  # fmt: skip
    except NotFound as exc:
        if exc.kind != "user":
            raise forms.place(exc, {"chair_id": "project-chair"}, visit.speaker) from None
        text = visit.speaker.gettext("Unknown: %(what)s") % {"what": exc.key}
        raise forms.FieldErrors({"project-pi": text}) from None
    except AllocatorError as exc:
        fields = {"id": "project-id", "chair_id": "project-chair", "pi": "project-pi"}
        raise forms.place(exc, fields, visit.speaker) from None
    return "project"


async def _post(request: Request, action: Any) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    try:
        done = await run_in_threadpool(action, visit, visit.user, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_organisation, visit, visit.user)
        typed = {f"{action.__name__}-{k}": v for k, v in form.items() if k != "csrf"}
        return _show(visit, found, refused.errors, "", typed)
    if done == "project":
        target = f"{visit.base}/projects/{form.get('id', '').strip()}/members?done=created"
        return RedirectResponse(target, status_code=303)
    return RedirectResponse(f"{visit.base}/organisation?done={done}", status_code=303)


@router.post("/organisation/chairs")
async def new_chair(request: Request) -> Response:
    return await _post(request, _new_chair)


@router.post("/organisation/projects")
async def new_project(request: Request) -> Response:
    return await _post(request, _new_project)
