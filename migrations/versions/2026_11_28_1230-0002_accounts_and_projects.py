"""accounts and projects: users, projects, members, tokens; skills and tracks belong to a project

Rows made before accounts existed go to the project named "default". Skill and track names
become unique per project instead of globally.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("name", name=op.f("uq_project_name")),
    )
    op.create_table(
        "project_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_project_member_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_project_member_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_member")),
        sa.UniqueConstraint("project_id", "user_id", name=op.f("uq_project_member_project_id_user_id")),
    )
    op.create_index(op.f("ix_project_member_project_id"), "project_member", ["project_id"])
    op.create_index(op.f("ix_project_member_user_id"), "project_member", ["user_id"])
    op.create_table(
        "auth_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_auth_token_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_token")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_auth_token_token_sha256")),
    )
    op.create_index(op.f("ix_auth_token_user_id"), "auth_token", ["user_id"])

    # Existing skills and tracks go to the default project.
    connection = op.get_bind()
    connection.execute(
        sa.text("INSERT INTO project (name, created_at) VALUES ('default', CURRENT_TIMESTAMP)")
    )
    default_id = connection.execute(sa.text("SELECT id FROM project WHERE name = 'default'")).scalar_one()

    for table in ("skill", "track"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
            if table == "track":
                batch.add_column(
                    sa.Column("trust_remote_code", sa.Boolean(), nullable=False, server_default=sa.false())
                )
        connection.execute(sa.text(f"UPDATE {table} SET project_id = :pid"), {"pid": default_id})
        with op.batch_alter_table(table) as batch:
            batch.alter_column("project_id", existing_type=sa.Integer(), nullable=False)
            batch.create_foreign_key(
                op.f(f"fk_{table}_project_id_project"), "project", ["project_id"], ["id"]
            )
            batch.create_index(op.f(f"ix_{table}_project_id"), ["project_id"])
            batch.drop_constraint(op.f(f"uq_{table}_name"), type_="unique")
            batch.create_unique_constraint(op.f(f"uq_{table}_project_id_name"), ["project_id", "name"])


def downgrade() -> None:
    for table in ("track", "skill"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"uq_{table}_project_id_name"), type_="unique")
            batch.create_unique_constraint(op.f(f"uq_{table}_name"), ["name"])
            batch.drop_index(op.f(f"ix_{table}_project_id"))
            batch.drop_constraint(op.f(f"fk_{table}_project_id_project"), type_="foreignkey")
            batch.drop_column("project_id")
            if table == "track":
                batch.drop_column("trust_remote_code")
    op.drop_index(op.f("ix_auth_token_user_id"), table_name="auth_token")
    op.drop_table("auth_token")
    op.drop_index(op.f("ix_project_member_user_id"), table_name="project_member")
    op.drop_index(op.f("ix_project_member_project_id"), table_name="project_member")
    op.drop_table("project_member")
    op.drop_table("project")
    op.drop_table("app_user")
