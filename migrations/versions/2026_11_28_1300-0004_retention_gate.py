"""retention gate: a track's retention budget and each checkpoint's promotion state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("track", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_budget", sa.JSON(), nullable=True))
    with op.batch_alter_table("checkpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("promotion", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("promotion_report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkpoint", schema=None) as batch_op:
        batch_op.drop_column("promotion_report")
        batch_op.drop_column("promotion")
    with op.batch_alter_table("track", schema=None) as batch_op:
        batch_op.drop_column("retention_budget")
