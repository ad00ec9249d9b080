from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from backend.db import SessionDep, get_engine
from backend.settings import get_settings

router = APIRouter(prefix="/api", tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    broker: str


@router.get("/health", response_model=Health, operation_id="health-get")
def health(session: SessionDep) -> Health:
    """Liveness plus which database and broker this instance uses."""
    session.execute(text("SELECT 1"))
    broker_url = get_settings().resolved_broker_url
    return Health(status="ok", database=get_engine().dialect.name, broker=broker_url.split("://", 1)[0])
