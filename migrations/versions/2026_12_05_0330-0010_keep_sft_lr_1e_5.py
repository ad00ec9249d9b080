"""keep lr 1e-5 for the SFT jobs queued while SFT's auto lr was 1e-5 at every size

From revision 0009 an SFT job without lr trained at 1e-5; from this one the engine decides it by the
model's size as well (1e-5 from 0.3B parameters, 2e-5 below). Without this a queued SFT job on a
small model would train at another rate than it was queued with, a running one could not resume from
its step checkpoint (its settings would differ), and a finished one would report a rate it did not run
with. This writes 1e-5 into them; new SFT jobs get the rate of their model's size.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS_AUTO_LR = 1e-5

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
                job.update().where(job.c.id == job_id).values(config={**config, "lr": PREVIOUS_AUTO_LR})
            )


def downgrade() -> None:
    # 1e-5 was SFT's auto lr at 0009: clearing it changes nothing there.
    connection = op.get_bind()
    for job_id, config in _sft_job_configs(connection):
        if config.get("lr") == PREVIOUS_AUTO_LR:
            without = {key: value for key, value in config.items() if key != "lr"}
            connection.execute(job.update().where(job.c.id == job_id).values(config=without))
