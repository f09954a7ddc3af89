"""Administration of queues (every ACD parameter) and voice-menu flows (YAML).

Queues: ``GET /api/v1/admin/queues`` lists each queue with its whole
configuration (defaults filled in); ``PUT /api/v1/admin/queues/{id}`` takes
the parameters of :class:`~hotline.acd.model.QueueConfig` as a mapping,
validates them (``hotline.acd.sim_config.queue_config_from_mapping``; a
refused value answers 422 naming the setting), saves the queue and applies
it to the running ACD at once (waiting calls keep their places).

Flows: YAML text validated by :mod:`hotline.ivr.flow_yaml` and
:func:`~hotline.ivr.flow.flow_problems` against the configured queues,
organisations and prompts; every problem names its node.  A saved flow is
handed to the IVR runner when it can swap flows live; otherwise the answer
says ``restart_needed``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hotline.acd.model import ExitAction, QueueConfig, TierRule
from hotline.acd.sim_config import queue_config_from_mapping
from hotline.core.errors import ConfigurationError
from hotline.ivr.flow import Flow, flow_problems
from hotline.ivr.flow_checks import FlowError
from hotline.ivr.flow_yaml import demo_flow_yaml, flow_from_yaml
from hotline.store.audit import AuditAction
from hotline.store.organisations import OrganisationsRepository
from hotline.store.proposals import FlowsRepository
from hotline.store.queues import QueuesRepository, StoredQueue
from hotline.web.admin_common import (
    ADMIN_CONFIG,
    Applied,
    Problem,
    blocking,
    invalid,
    invalid_problems,
)
from hotline.web.admin_live import admin_paths_of, live_of
from hotline.web.admin_prompts import prompt_ids
from hotline.web.audit_api import record
from hotline.web.auth import Principal, context_of
from hotline.web.errors import ApiError, ErrorCode

__all__ = [
    "FlowCheck",
    "FlowIn",
    "FlowOut",
    "QueueIn",
    "QueueOut",
    "admin_queues_router",
    "check_flow",
    "queue_config_of",
    "queue_mapping",
]

MAX_QUEUES_LISTED: Final = 1000
ID_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
MAIN_FLOW: Final = "main"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, ExitAction):
        return {"kind": value.kind.value, "target": value.target}
    if isinstance(value, TierRule):
        return {"after_s": value.after_s, "min_level": value.min_level}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def queue_mapping(config: QueueConfig) -> dict[str, Any]:
    """Every parameter of ``config`` as plain JSON values (the form ``PUT`` accepts)."""
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


class QueueOut(BaseModel):
    queue_id: str
    name: str
    topic: str
    enabled: bool
    config: dict[str, Any]


class QueueIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    topic: str = Field(pattern=ID_PATTERN)
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict, description="QueueConfig parameters")


def _config_of(queue_id: str, name: str, topic: str, config: Mapping[str, Any]) -> QueueConfig:
    data = {k: v for k, v in config.items() if k not in ("queue_id", "name", "topic")}
    return queue_config_from_mapping({**data, "queue_id": queue_id, "name": name, "topic": topic})


def queue_config_of(q: StoredQueue) -> QueueConfig:
    """The ACD configuration of a stored queue (ConfigurationError when it is unusable).

    For the composition root: load the stored queues into the ACD at start.
    """
    return _config_of(q.queue_id, q.name, q.topic, q.config)


def _queue_out(q: StoredQueue) -> QueueOut:
    try:
        full = queue_mapping(_config_of(q.queue_id, q.name, q.topic, q.config))
    except ConfigurationError:
        full = dict(q.config)  # shown as stored, so that the administrator can fix it
    return QueueOut(queue_id=q.queue_id, name=q.name, topic=q.topic, enabled=q.enabled, config=full)


admin_queues_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
QueueIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


@admin_queues_router.get("/queues", response_model=list[QueueOut], summary="Queues")
async def list_queues(request: Request, who: Annotated[Principal, ADMIN_CONFIG]) -> list[QueueOut]:
    stored = await blocking(QueuesRepository(context_of(request).db).all)
    return [_queue_out(q) for q in stored[:MAX_QUEUES_LISTED]]


@admin_queues_router.put(
    "/queues/{queue_id}",
    response_model=Applied,
    summary="Create or change a queue (applied to the running ACD)",
    responses={422: {"description": "a parameter is refused; ``problems`` names it"}},
)
async def put_queue(
    request: Request,
    queue_id: QueueIdPath,
    body: QueueIn,
    who: Annotated[Principal, ADMIN_CONFIG],
) -> Applied | JSONResponse:
    try:
        config = _config_of(queue_id, body.name, body.topic, body.config)
    except (ConfigurationError, TypeError, ValueError) as exc:
        error = (
            exc if isinstance(exc, ConfigurationError) else ConfigurationError("queue", str(exc))
        )
        return invalid(request, error)
    repo = QueuesRepository(context_of(request).db)
    before = await blocking(repo.get, queue_id)
    full = queue_mapping(config)
    stored = {k: v for k, v in full.items() if k not in ("queue_id", "name", "topic")}
    await blocking(repo.save, StoredQueue(queue_id, body.name, body.topic, stored, body.enabled))
    live = live_of(request)
    applied = False
    if live is not None and body.enabled:
        live.apply_queue(config)
        applied = True
    elif live is not None:  # disabled: out of routing, its waiting calls moved
        applied = live.remove_queue(config.queue_id)
    old = _queue_out(before).config if before is not None else {}
    changed = sorted(k for k, v in full.items() if old.get(k) != v)
    if before is None or before.enabled != body.enabled:
        changed.append("enabled")
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"queue:{queue_id}",
        details={"created": before is None, "changed": changed, "applied": applied},
    )
    return Applied(applied=applied, restart_needed=not applied and live is None)


# -- flows ---------------------------------------------------------------------------------


class FlowIn(BaseModel):
    yaml: str = Field(min_length=1, max_length=1_000_000)


class FlowCheck(BaseModel):
    ok: bool
    problems: list[Problem]


class FlowOut(BaseModel):
    name: str
    yaml: str
    stored: bool
    updated_by: str | None = None


def check_flow(
    text: str,
    *,
    queues: list[str],
    organisations: list[str],
    prompts: list[str],
) -> tuple[Flow | None, list[Problem]]:
    """Parse and check a YAML flow; each problem names its node (None: the flow itself)."""
    try:
        flow = flow_from_yaml(text)
    except FlowError as exc:
        return None, [Problem(setting=exc.setting, problem=exc.problem, node=exc.node)]
    except ConfigurationError as exc:
        return None, [Problem(setting=exc.setting, problem=exc.problem)]
    found = flow_problems(
        flow,
        known_prompts=prompts,
        known_queues=queues or None,
        known_organisations=organisations or None,
    )
    problems = [Problem(setting=p.setting, problem=p.problem, node=p.node) for p in found]
    return flow, problems


def _known(request: Request) -> dict[str, list[str]]:
    db = context_of(request).db
    return {
        "queues": [q.queue_id for q in QueuesRepository(db).all()],
        "organisations": [o.organisation_id for o in OrganisationsRepository(db).all()],
        "prompts": prompt_ids(admin_paths_of(request).prompts_dir),
    }


FlowName = Annotated[str, Path(pattern=ID_PATTERN)]


@admin_queues_router.get("/flows/{name}", response_model=FlowOut, summary="A voice-menu flow")
async def get_flow(
    request: Request, name: FlowName, who: Annotated[Principal, ADMIN_CONFIG]
) -> FlowOut:
    stored = await blocking(FlowsRepository(context_of(request).db).get, name)
    if stored is not None:
        return FlowOut(name=name, yaml=stored.yaml_text, stored=True, updated_by=stored.updated_by)
    if name != MAIN_FLOW:
        raise ApiError(ErrorCode.NOT_FOUND)
    return FlowOut(name=name, yaml=await blocking(demo_flow_yaml), stored=False)


@admin_queues_router.post(
    "/flows/{name}/check", response_model=FlowCheck, summary="Validate a YAML flow"
)
async def validate_flow_yaml(
    request: Request, name: FlowName, body: FlowIn, who: Annotated[Principal, ADMIN_CONFIG]
) -> FlowCheck:
    known = await blocking(_known, request)
    _, problems = await blocking(check_flow, body.yaml, **known)
    return FlowCheck(ok=not problems, problems=problems)


@admin_queues_router.put(
    "/flows/{name}",
    response_model=Applied,
    summary="Save a YAML flow (validated; applied when the IVR can take it live)",
    responses={422: {"description": "the flow is invalid; ``problems`` name the nodes"}},
)
async def put_flow(
    request: Request, name: FlowName, body: FlowIn, who: Annotated[Principal, ADMIN_CONFIG]
) -> Applied | JSONResponse:
    ctx = context_of(request)
    known = await blocking(_known, request)
    flow, problems = await blocking(check_flow, body.yaml, **known)
    if flow is None or problems:
        return invalid_problems(request, problems)
    await blocking(
        FlowsRepository(ctx.db).save,
        name,
        body.yaml,
        updated_by=who.username,
        now=ctx.clock.utcnow(),
    )
    live = live_of(request)
    applied = live.apply_flow(flow) if live is not None and name == MAIN_FLOW else False
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"flow:{name}",
        details={"nodes": len(flow.nodes), "applied": applied},
    )
    return Applied(applied=applied, restart_needed=not applied)
