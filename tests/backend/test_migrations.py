"""Upgrade to head on an empty database, downgrade to base, upgrade again; the models match."""

import json
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from backend.models import Base
from worker.sdft.config import PAPER_TEACHER_TEMPLATE

REPO_ROOT = Path(__file__).resolve().parents[2]


def _config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    return config


def test_upgrade_downgrade_upgrade_on_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    config = _config(url)
    command.upgrade(config, "head")
    engine = create_engine(url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], "models changed without a migration"
    engine.dispose()


def test_migrations_match_models_on_the_test_database(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], "models changed without a migration"
    engine.dispose()


def test_existing_skills_and_jobs_keep_the_paper_settings_when_the_defaults_change(tmp_path: Path) -> None:
    """0007: a skill without a template and an SDFT job without skip_first_tokens meant the paper's."""
    url = f"sqlite:///{tmp_path / 'defaults.db'}"
    config = _config(url)
    command.upgrade(config, "0006")
    engine = create_engine(url)
    now = "2026-12-01 00:00:00"
    job_columns = (
        "kind, method, config, queue, position, state, attempt, max_attempts, last_step, total_steps, "
        "cancel_requested, summary, created_at"
    )
    with engine.begin() as connection:
        project_id = connection.execute(text("SELECT min(id) FROM project")).scalar_one()  # the seeded one
        for skill_id, template in ((1, None), (2, "{prompt} then {demonstration}")):
            connection.execute(
                text(
                    "INSERT INTO skill (id, name, description, teacher_template, scorer, scorer_config, "
                    "created_at, project_id) VALUES (:id, :name, '', :template, 'exact', '{}', :now, :project)"
                ),
                {
                    "id": skill_id,
                    "name": f"s{skill_id}",
                    "template": template,
                    "now": now,
                    "project": project_id,
                },
            )
        for method, job_config in (("sdft", "{}"), ("sdft", '{"skip_first_tokens": 1}'), ("sft", "{}")):
            connection.execute(
                text(
                    f"INSERT INTO job ({job_columns}) VALUES "
                    "('train', :method, :config, 'cpu', 0, 'succeeded', 1, 3, 5, 5, 0, '{}', :now)"
                ),
                {"method": method, "config": job_config, "now": now},
            )

    def stored() -> tuple[list[str | None], list[dict[str, int]]]:
        with engine.connect() as connection:
            templates = connection.execute(text("SELECT teacher_template FROM skill ORDER BY id")).scalars()
            configs = connection.execute(text("SELECT config FROM job ORDER BY id")).scalars()
            return list(templates), [json.loads(value) for value in configs]

    command.upgrade(config, "0007")
    templates, configs = stored()
    assert templates == [PAPER_TEACHER_TEMPLATE, "{prompt} then {demonstration}"]
    assert configs == [{"skip_first_tokens": 3}, {"skip_first_tokens": 1}, {}]

    command.downgrade(config, "0006")
    templates, configs = stored()
    assert templates == [None, "{prompt} then {demonstration}"]
    assert configs == [{}, {"skip_first_tokens": 1}, {}]
    engine.dispose()


def _train_jobs_at(url: str, revision: str, jobs: list[tuple[str, str, str]]) -> Engine:
    """A database at `revision` holding train jobs of (method, state, config JSON)."""
    command.upgrade(_config(url), revision)
    engine = create_engine(url)
    job_columns = (
        "kind, method, config, queue, position, state, attempt, max_attempts, last_step, total_steps, "
        "cancel_requested, summary, created_at"
    )
    with engine.begin() as connection:
        for method, state, job_config in jobs:
            connection.execute(
                text(
                    f"INSERT INTO job ({job_columns}) VALUES "
                    "('train', :method, :config, 'cpu', 0, :state, 1, 3, 0, 5, 0, '{}', '2026-12-04 00:00:00')"
                ),
                {"method": method, "state": state, "config": job_config},
            )
    return engine


def _job_configs(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        return [
            json.loads(value)
            for value in connection.execute(text("SELECT config FROM job ORDER BY id")).scalars()
        ]


def test_existing_sdft_jobs_keep_general_prompts_off_when_general_mix_becomes_auto(tmp_path: Path) -> None:
    """0008: an SDFT job without general_mix mixed in none; unset now means auto (0.25 from 0.3B)."""
    url = f"sqlite:///{tmp_path / 'general.db'}"
    jobs = [
        ("sdft", "queued", "{}"),
        ("sdft", "running", '{"general_mix": 0.5}'),
        ("sdft", "succeeded", '{"steps": 4}'),
    ]
    engine = _train_jobs_at(url, "0007", [*jobs, ("sft", "queued", "{}")])
    command.upgrade(_config(url), "0008")
    assert _job_configs(engine) == [
        {"general_mix": 0.0},
        {"general_mix": 0.5},
        {"steps": 4, "general_mix": 0.0},
        {},
    ]
    command.downgrade(_config(url), "0007")
    assert _job_configs(engine) == [{}, {"general_mix": 0.5}, {"steps": 4}, {}]
    engine.dispose()


def test_existing_sft_jobs_keep_lr_2e_5_when_lr_becomes_auto(tmp_path: Path) -> None:
    """0009: an SFT job without lr trained at 2e-5; unset now means auto (1e-5 for SFT)."""
    url = f"sqlite:///{tmp_path / 'lr.db'}"
    jobs = [
        ("sft", "queued", "{}"),
        ("sft", "running", '{"lr": 5e-06}'),
        ("sft", "succeeded", '{"steps": 4}'),
    ]
    engine = _train_jobs_at(url, "0008", [*jobs, ("sdft", "queued", '{"general_mix": 0.0}')])
    command.upgrade(_config(url), "0009")
    assert _job_configs(engine) == [
        {"lr": 2e-5},
        {"lr": 5e-6},
        {"steps": 4, "lr": 2e-5},
        {"general_mix": 0.0},
    ]
    command.downgrade(_config(url), "0008")
    assert _job_configs(engine) == [{}, {"lr": 5e-6}, {"steps": 4}, {"general_mix": 0.0}]
    engine.dispose()


def test_sft_jobs_queued_under_0009_keep_lr_1e_5_when_it_follows_the_models_size(tmp_path: Path) -> None:
    """0010: an SFT job without lr trained at 1e-5 at any size; unset now means 2e-5 below 0.3B."""
    url = f"sqlite:///{tmp_path / 'lr-size.db'}"
    jobs = [
        ("sft", "queued", "{}"),
        ("sft", "running", '{"lr": 2e-05}'),
        ("sft", "succeeded", '{"steps": 4}'),
    ]
    engine = _train_jobs_at(url, "0009", [*jobs, ("sdft", "queued", "{}")])
    command.upgrade(_config(url), "0010")
    assert _job_configs(engine) == [{"lr": 1e-5}, {"lr": 2e-5}, {"steps": 4, "lr": 1e-5}, {}]
    command.downgrade(_config(url), "0009")
    assert _job_configs(engine) == [{}, {"lr": 2e-5}, {"steps": 4}, {}]
    engine.dispose()
