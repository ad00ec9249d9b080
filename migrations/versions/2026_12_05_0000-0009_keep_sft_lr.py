"""keep lr 2e-5 for the SFT jobs that existed before lr became auto

An SFT job without lr trained at 2e-5 until now; from this revision the engine decides an unset lr
by the method (SDFT 2e-5 as before, SFT 1e-5). Without this a queued SFT job would train at another
rate than it was queued with, a running one could not resume from its step checkpoint (its settings
would differ), and a finished one would report a rate it did not run with. This writes the old
default, 2e-5, into them; new SFT jobs get 1e-5. SDFT jobs keep their meaning: auto is 2e-5 there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_DEFAULT_LR = 2e-5

job = sa.table(
    "job",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("method", sa.String),
    sa.column("config", sa.JSON),
)


def _sft_job_configs(connection: sa.Connection) -> list[tuple[int, dict]]:
    rows = connection.execute(
        sa.select(job.c.id, job.c.config).where(job.c.kind == "train", job.c.method == "sft")
    ).all()
    return [(job_id, config or {}) for job_id, config in rows]


def upgrade() -> None:
    connection = op.get_bind()
    for job_id, config in _sft_job_configs(connection):
        if config.get("lr") is None:
            connection.execute(
                job.update().where(job.c.id == job_id).values(config={**config, "lr": OLD_DEFAULT_LR})
            )


def downgrade() -> None:
    # 2e-5 was the old default: clearing it changes nothing there.
    connection = op.get_bind()
    for job_id, config in _sft_job_configs(connection):
        if config.get("lr") == OLD_DEFAULT_LR:
            without = {key: value for key, value in config.items() if key != "lr"}
            connection.execute(job.update().where(job.c.id == job_id).values(config=without))
