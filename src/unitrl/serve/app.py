"""The HTTP app of `unitrl serve`: routes, authentication, body limits, error codes, metrics.

Routes: `GET /health` (open), `GET /metrics` (Prometheus text), `POST /grade` (native batch, see
`native`), `POST /get_reward` (OpenRLHF, see `openrlhf`), `POST /run_code` and `POST /submit`
(SandboxFusion, see `sandbox_fusion`). With a token every route but /health needs `Authorization:
Bearer TOKEN` or, for engines that send no headers (OpenRLHF, verl), `?token=TOKEN` in the URL.
Bodies are read up to `max_body_bytes` (413 past it) and parsed here, not by pydantic, to keep the
event loop's share of the CPU small: the sandbox workers need the cores. Errors are JSON `{"error":
...}`: 400 a malformed request (naming the field), 401 no or wrong token, 413 too large, 503 queue
full or sandbox failure (with Retry-After), 504 deadline passed, 500 a bug.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from unitrl.errors import UserError
from unitrl.records import Problem
from unitrl.rl.rewards import RewardTerm
from unitrl.serve import native, openrlhf, sandbox_fusion
from unitrl.serve.openrlhf import END_MARKERS, InfrastructureError
from unitrl.serve.service import DeadlineExceeded, GradingService, QueueFull, ServiceClosed, TooLarge

log = logging.getLogger("unitrl.serve")


@dataclass
class ServeState:
    """Everything the routes need; built once by `unitrl serve` (or a test)."""

    service: GradingService
    terms: list[RewardTerm]
    problems: dict[str, Problem] = field(default_factory=dict)
    token: str | None = None
    deadline: float = 120.0  # seconds a request may wait, at most
    max_timeout: float = 30.0  # CPU seconds per test a request may ask for, at most
    max_body_bytes: int = 64 * 1024 * 1024
    # bytes of request bodies being read at once, all requests together: past it, 503 (memory bound);
    # `unitrl serve` sets it to four times the largest body
    reading_budget: int = 256 * 1024 * 1024
    reading: int = 0
    stops: tuple[str, ...] = END_MARKERS
    info: dict = field(default_factory=dict)  # shown by /health


class ApiError(Exception):
    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code, self.headers = code, headers or {}


def create_app(state: ServeState) -> FastAPI:
    """The app. Routes are plain Starlette routes (a Request in, a Response out): FastAPI's dependency
    and validation machinery would cost about a third of a small request's CPU here for nothing."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.service.close()

    app = FastAPI(title="unitrl serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", **state.info})

    async def metrics(request: Request) -> Response:
        try:
            _authorize(request, state.token)
        except ApiError as exc:
            return _error(exc.code, str(exc), exc.headers)
        return Response(state.service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_route("/health", health, methods=["GET"])
    app.add_route("/metrics", metrics, methods=["GET"])
    for path, endpoint, work in (
        ("/grade", "grade", _grade),
        ("/get_reward", "openrlhf", _reward),
        ("/run_code", "run_code", _run_code),
        ("/submit", "submit", _submit),
    ):
        app.add_route(path, _route(state, endpoint, work), methods=["POST"])
    return app


def _route(state: ServeState, endpoint: str, work: Callable[[ServeState, Any], Awaitable[dict]]):
    async def route(request: Request) -> Response:
        return await _handle(request, state, endpoint, lambda body: work(state, body))

    return route


# ------------------------------------------------------------------------------------------ plumbing


async def _handle(
    request: Request, state: ServeState, endpoint: str, work: Callable[[Any], Awaitable[dict]]
) -> Response:
    """Authorize, read and parse the body, do the work, map failures to codes, count it all."""
    start = time.monotonic()
    try:
        _authorize(request, state.token)
        payload = await work(await _read_json(request, state))
        response = Response(
            json.dumps(payload, ensure_ascii=False).encode("utf-8"), media_type="application/json"
        )
    except ApiError as exc:
        response = _error(exc.code, str(exc), exc.headers)
    except UserError as exc:
        response = _error(400, str(exc))
    except TooLarge as exc:
        response = _error(413, str(exc))
    except QueueFull as exc:
        response = _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
    except (ServiceClosed, InfrastructureError) as exc:
        response = _error(503, str(exc), {"Retry-After": "1"})
    except DeadlineExceeded as exc:
        response = _error(504, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug answers 500 and is logged; the server stays up
        log.exception("request failed")
        response = _error(500, f"internal error: {type(exc).__name__}: {exc}"[:500])
    state.service.metrics.request(endpoint, response.status_code, time.monotonic() - start)
    return response


def _error(code: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=code, headers=headers)


def _authorize(request: Request, token: str | None) -> None:
    if not token:
        return
    given = request.headers.get("authorization", "")
    given = given[7:] if given[:7].lower() == "bearer " else request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})


async def _read_json(request: Request, state: ServeState) -> Any:
    """The parsed body: at most `max_body_bytes` (413), and 503 while other requests' bodies being read
    already hold `reading_budget` bytes, so many large bodies at once cannot exhaust memory."""
    limit = state.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body over {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            state.reading += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body over {limit} bytes")
            if state.reading > state.reading_budget:
                raise ApiError(503, "too many large requests at once", {"Retry-After": "1"})
            chunks.append(chunk)
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not JSON: {exc}") from None
    finally:
        state.reading -= size  # the event loop is one thread: no lock needed


def _deadline(state: ServeState, asked: float | None = None) -> float:
    return min(state.deadline, asked) if asked else state.deadline


# ------------------------------------------------------------------------------------------ endpoints


async def _grade(state: ServeState, body: Any) -> dict:
    items = native.parse_grade_request(body, state.problems)
    timeout = native.number_field(body, "timeout", state.max_timeout)
    deadline = _deadline(state, native.number_field(body, "deadline", state.deadline))
    service = state.service
    ticket = service.submit(native.grade_jobs(items, timeout), native.result_judge(items), deadline)
    results = await service.wait_async(ticket)
    return {"results": [native.result_row(r) for r in results]}


async def _reward(state: ServeState, body: Any) -> dict:
    items = openrlhf.parse_reward_request(body, state.problems, state.stops)
    service = state.service
    ticket = service.submit(native.grade_jobs(items, None), native.result_judge(items), _deadline(state))
    return openrlhf.reward_answer(state.terms, await service.wait_async(ticket))


async def _run_code(state: ServeState, body: Any) -> dict:
    job, refusal, run_timeout = sandbox_fusion.parse_run_code(body, state.max_timeout)
    if job is None:
        return refusal
    compile_timeout = native.number_field(body, "compile_timeout", 1e6) or 10.0
    # verl retries a 504 (and nothing else): answer before its own timeout (compile + run + 10 s)
    ticket = state.service.submit(
        [job], lambda k, raw: raw, _deadline(state, compile_timeout + run_timeout + 5)
    )
    [raw] = await state.service.wait_async(ticket)
    return sandbox_fusion.run_code_answer(raw.steps[0])


async def _submit(state: ServeState, body: Any) -> dict:
    problem, program = sandbox_fusion.submit_problem(body, state.problems)
    timeout = native.number_field(body.get("config") or {}, "run_timeout", state.max_timeout)
    job = sandbox_fusion.submit_job(problem, program, timeout)
    ticket = state.service.submit([job], sandbox_fusion.submit_judge(problem), _deadline(state))
    [graded] = await state.service.wait_async(ticket)
    return sandbox_fusion.submit_answer(body.get("id"), problem, body["completion"], program, graded)
