"""keep the paper's settings for what existed before the defaults changed

The engine's defaults moved from the SDFT paper's teacher template and 3 skipped tokens to the
same-format template and none (bench/results/learning.md). A skill without a template of its own
and an SDFT job without skip_first_tokens took the default, so without this they would change
meaning: earlier skills would be replayed with another template, queued jobs would train with other
settings and finished jobs would report settings they did not run with. This writes the paper's
values into them; new skills and jobs get the new defaults.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The texts as they were at this revision; a migration never imports application code.
PAPER_TEACHER_TEMPLATE = (
    "{prompt}\n\n"
    "This is an example for a response to the question:\n"
    "{demonstration}\n\n"
    "Now answer with a response of your own, including the thinking process."
)
PAPER_SKIP_FIRST_TOKENS = 3

skill = sa.table("skill", sa.column("id", sa.Integer), sa.column("teacher_template", sa.Text))
job = sa.table(
    "job",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("method", sa.String),
    sa.column("config", sa.JSON),
)


def _rewrite_sdft_job_configs(connection: sa.Connection, rewrite: Callable[[dict], dict | None]) -> None:
    """Store rewrite(config) for every SDFT training job it returns a new config for."""
    rows = connection.execute(
        sa.select(job.c.id, job.c.config).where(job.c.kind == "train", job.c.method == "sdft")
    ).all()
    for job_id, config in rows:
        changed = rewrite(config or {})
        if changed is not None:
            connection.execute(job.update().where(job.c.id == job_id).values(config=changed))


def upgrade() -> None:
    connection = op.get_bind()
    connection.execute(
        skill.update()
        .where(skill.c.teacher_template.is_(None))
        .values(teacher_template=PAPER_TEACHER_TEMPLATE)
    )
    _rewrite_sdft_job_configs(
        connection,
        lambda config: (
            None
            if "skip_first_tokens" in config
            else {**config, "skip_first_tokens": PAPER_SKIP_FIRST_TOKENS}
        ),
    )


def downgrade() -> None:
    # Values equal to the paper's were the old defaults, or as good as them: clearing them changes nothing.
    connection = op.get_bind()
    connection.execute(
        skill.update().where(skill.c.teacher_template == PAPER_TEACHER_TEMPLATE).values(teacher_template=None)
    )
    _rewrite_sdft_job_configs(
        connection,
        lambda config: (
            {key: value for key, value in config.items() if key != "skip_first_tokens"}
            if config.get("skip_first_tokens") == PAPER_SKIP_FIRST_TOKENS
            else None
        ),
    )
