"""skill adapters: a track may keep one LoRA adapter per skill over its base instead of one stacked model

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("track", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skill_adapters", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("track", schema=None) as batch_op:
        batch_op.drop_column("skill_adapters")
