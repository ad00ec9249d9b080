"""The FastAPI application: API routers plus the built frontend at `/`."""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute

from backend import health
from backend.auth.bootstrap import auth_lifespan
from backend.errors import install_error_handlers
from backend.limits import BodyLimitMiddleware
from backend.scrub import install_log_scrubbing
from backend.settings import get_settings

API_DESCRIPTION = """Apprentice teaches a language model new skills from demonstrations with
Self-Distillation Fine-Tuning (SDFT), one skill after another, and measures what each new skill
did to the old ones."""

# Domain routers; a domain whose routes module does not exist yet is simply not mounted.
DOMAINS = (
    "auth",
    "skills",
    "datasets",
    "tracks",
    "jobs",
    "checkpoints",
    "evaluations",
    "preflight",
    "retention",
    "revisions",
    "adapters",
)


def _unique_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "app"
    return route.operation_id or f"{tag}-{route.name}"


def create_app() -> FastAPI:
    install_log_scrubbing()
    app = FastAPI(
        title="Apprentice",
        version="0.1.0",
        description=API_DESCRIPTION,
        generate_unique_id_function=_unique_id,
        lifespan=auth_lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.include_router(health.router)
    for domain in DOMAINS:
        try:
            module = importlib.import_module(f"backend.{domain}.routes")
        except ModuleNotFoundError as exc:
            if exc.name != f"backend.{domain}.routes":
                raise
            continue
        app.include_router(module.router)
    _mount_frontend(app, get_settings().frontend_dist)
    return app


def _mount_frontend(app: FastAPI, dist: Path) -> None:
    """Serve the built single-page app; unknown non-API paths get index.html (client-side routing)."""

    @app.get("/{path:path}", include_in_schema=False)
    def frontend(path: str) -> FileResponse:
        if path.startswith("api/") or path == "api":
            raise HTTPException(
                status_code=404, detail={"code": "not_found", "message": f"/{path} not found"}
            )
        root = dist.resolve()
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate)
        index = root / "index.html"
        if not index.is_file():
            raise HTTPException(
                status_code=404,
                detail={"code": "frontend_not_built", "message": "frontend not built: run `make run`"},
            )
        return FileResponse(index)


app = create_app()
