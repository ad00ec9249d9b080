"""keep general prompts off for the SDFT jobs that existed before general_mix became auto

An SDFT job without general_mix mixed in no general prompts until now; from this revision the
engine decides an unset general_mix by the model's size (0.25 from 0.3B parameters). Without this a
queued job would train with other settings than it was queued with, a running one could not resume
from its step checkpoint (its settings would differ), and a finished one would report settings it
did not run with. This writes the old default, 0, into them; new jobs get auto.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

job = sa.table(
    "job",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("method", sa.String),
    sa.column("config", sa.JSON),
)


def _sdft_job_configs(connection: sa.Connection) -> list[tuple[int, dict]]:
    rows = connection.execute(
        sa.select(job.c.id, job.c.config).where(job.c.kind == "train", job.c.method == "sdft")
    ).all()
    return [(job_id, config or {}) for job_id, config in rows]


def upgrade() -> None:
    connection = op.get_bind()
    for job_id, config in _sdft_job_configs(connection):
        if config.get("general_mix") is None:
            connection.execute(
                job.update().where(job.c.id == job_id).values(config={**config, "general_mix": 0.0})
            )


def downgrade() -> None:
    # 0 was the old default: clearing it changes nothing there.
    connection = op.get_bind()
    for job_id, config in _sdft_job_configs(connection):
        if config.get("general_mix") == 0:
            without = {key: value for key, value in config.items() if key != "general_mix"}
            connection.execute(job.update().where(job.c.id == job_id).values(config=without))
