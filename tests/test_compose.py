"""The production stack as written: docker-compose.yml, docker/Dockerfile, .env.example, README.

No Docker engine runs in the test environment, so these checks read the files the way Compose
and BuildKit would and hold them to what DESIGN.md asks of a deployment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
README = REPO_ROOT / "README.md"

# Variables only docker-compose.yml reads (interpolation), not the Python code.
COMPOSE_ONLY_VARIABLES = {"POSTGRES_PASSWORD", "API_PORT"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; Compose refuses the file. Refuse it here too."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_compose(text: str) -> dict[str, Any]:
    # PyYAML resolves `<<` merge keys as Compose does, so services see their merged fields.
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE_FILE.read_text())


def test_duplicate_keys_are_refused_as_compose_refuses_them() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'HOST'"):
        load_compose("x: &a\n  HOST: 1\n  HOST: 2\ny:\n  <<: *a\n")
    assert load_compose("x: &a\n  HOST: 1\ny:\n  <<: *a\n  PORT: 2\n")["y"] == {"HOST": 1, "PORT": 2}


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def settings_env_names() -> set[str]:
    """The environment variable each Settings field is read from, with pydantic-settings' rules."""
    config = Settings.model_config
    prefix = config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        env_name = alias if isinstance(alias, str) else f"{prefix}{name}"
        # case_sensitive=False (the default): any case matches; document the conventional one.
        names.add(env_name if config.get("case_sensitive") else env_name.upper())
    return names


def env_example_names() -> set[str]:
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")
    return {match.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (match := pattern.match(line))}


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def test_the_stack_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "redis", "api", "worker-gpu", "worker-cpu"} <= set(services)
    vllm = [name for name, service in services.items() if "vllm" in service.get("profiles", [])]
    assert vllm, "an optional `vllm` profile runs rollouts with vLLM"
    # Optional services stay optional: everything else starts with a plain `docker compose up`.
    for name in ("postgres", "redis", "api", "worker-gpu", "worker-cpu"):
        assert "profiles" not in services[name], name


def test_stateful_services_keep_their_data_in_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    volumes = set(compose["volumes"])
    mounts = {
        name: [str(volume).split(":") for volume in service.get("volumes", [])]
        for name, service in services.items()
    }
    assert ["pgdata", "/var/lib/postgresql/data"] in mounts["postgres"]
    assert any(source == "redisdata" for source, *_ in mounts["redis"])
    # The API and every worker share one artifact volume at DATA_DIR (checkpoints, traces, models).
    for name in ("api", "worker-gpu", "worker-cpu", *[n for n in services if n.startswith("worker-gpu-")]):
        assert ["artifacts", "/data"] in mounts[name], name
        assert environment_of(services[name])["DATA_DIR"] == "/data", name
    used = {source for service_mounts in mounts.values() for source, *_ in service_mounts}
    assert used & volumes == {"pgdata", "redisdata", "artifacts"}
    assert used - volumes == set(), "every mount is a declared named volume, not a host path"


def test_databases_have_healthchecks_the_app_waits_for(services: dict[str, dict[str, Any]]) -> None:
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "ping" in str(services["redis"]["healthcheck"]["test"])
    assert "/api/health" in str(services["api"]["healthcheck"]["test"])
    api_depends = services["api"]["depends_on"]
    assert api_depends["postgres"]["condition"] == "service_healthy"
    assert api_depends["redis"]["condition"] == "service_healthy"
    # Workers start only after the API migrated the schema (its health needs the database).
    for name, service in services.items():
        if name.startswith("worker"):
            assert service["depends_on"]["api"]["condition"] == "service_healthy", name
            assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_the_api_migrates_before_it_serves(services: dict[str, dict[str, Any]]) -> None:
    command = command_of(services["api"])
    assert command.index("alembic upgrade head") < command.index("uvicorn backend.main:app")
    assert "&&" in command, "a failed migration must stop the server from starting"


def test_every_service_is_wired_to_the_same_database_and_broker(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker-gpu", "worker-cpu", "worker-gpu-vllm"):
        environment = environment_of(services[name])
        assert environment["DATABASE_URL"].startswith("postgresql+psycopg://apprentice:"), name
        assert "@postgres:5432/apprentice" in environment["DATABASE_URL"], name
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0", name


def test_no_service_disables_authentication(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert not any(key.upper().startswith("AUTH_DISABLED") for key in environment_of(service)), name
    assert "AUTH_DISABLED" not in COMPOSE_FILE.read_text()
    # HOST is the address the API really binds, so an AUTH_DISABLED that reaches the stack through
    # .env makes the app refuse to start (it allows AUTH_DISABLED on loopback only).
    assert environment_of(services["api"])["HOST"] == "0.0.0.0"
    assert '--host "$$HOST"' in command_of(services["api"])  # $$: compose passes $HOST to the shell


def test_the_database_password_comes_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    # `${VAR:?message}` makes compose refuse to start without it instead of running with a default.
    assert "${POSTGRES_PASSWORD:?" in str(services["postgres"]["environment"]["POSTGRES_PASSWORD"])
    assert "${POSTGRES_PASSWORD:?" in environment_of(services["api"])["DATABASE_URL"]
    # Only the API is reachable from outside the compose network.
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["api"]


@pytest.mark.parametrize("name", ["worker-gpu", "worker-gpu-vllm"])
def test_gpu_workers_reserve_a_gpu_and_take_one_job_at_a_time(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert service["build"]["target"] == "cuda"
    command = service["command"]
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("--concurrency") + 1] == "1"
    assert command[command.index("--prefetch-multiplier") + 1] == "1"
    # A fresh child process per job: CUDA is never initialised before a fork.
    assert command[command.index("--max-tasks-per-child") + 1] == "1"


def test_the_vllm_worker_is_built_with_the_gpu_extra(services: dict[str, dict[str, Any]]) -> None:
    assert services["worker-gpu-vllm"]["build"]["args"]["WITH_VLLM"] == "1"
    assert 'pip install ".[gpu]"' in DOCKERFILE.read_text()


def test_the_cpu_worker_serves_the_cpu_queue(services: dict[str, dict[str, Any]]) -> None:
    service = services["worker-cpu"]
    assert "deploy" not in service
    command = service["command"]
    assert command[command.index("-Q") + 1] == "cpu"
    assert service["build"]["target"] == "cpu"
    assert services["api"]["build"]["target"] == "cpu"


def test_the_dockerfile_has_the_targets_compose_builds(services: dict[str, dict[str, Any]]) -> None:
    text = DOCKERFILE.read_text()
    # stage name -> what it is built FROM
    targets = {
        stage: base for base, stage in re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, flags=re.MULTILINE)
    }
    for service in services.values():
        if "build" in service:
            assert service["build"]["dockerfile"] == "docker/Dockerfile"
            assert service["build"]["target"] in targets
    assert targets["cpu"] == "python-cpu"
    assert targets["python-cpu"] == "${PYTHON_IMAGE}"
    assert targets["cuda"] == "${CUDA_IMAGE}"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, flags=re.MULTILINE)
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+-runtime-", text, flags=re.MULTILINE)
    assert re.search(r"^ARG NODE_IMAGE=node:20", text, flags=re.MULTILINE)
    # The same pinned torch as pyproject.toml, from the CPU or a CUDA wheel index.
    pinned = re.search(r'"torch==([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert pinned is not None
    assert f"ARG TORCH_VERSION={pinned.group(1)}" in text
    assert "ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu" in text
    assert "COPY --from=frontend /frontend/dist /app/frontend/dist" in text


def test_dockerignore_keeps_secrets_and_local_state_out_of_images() -> None:
    ignored = (REPO_ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    for entry in (".env", ".venv", "data", "frontend/node_modules", ".git"):
        assert entry in ignored


def test_every_setting_is_documented_in_env_example() -> None:
    missing = settings_env_names() - env_example_names()
    assert not missing, f".env.example lacks {sorted(missing)}"
    stale = env_example_names() - settings_env_names() - COMPOSE_ONLY_VARIABLES
    assert not stale, f".env.example documents variables nothing reads: {sorted(stale)}"


def test_env_example_loads_as_settings(tmp_path: Path) -> None:
    # Its uncommented lines are valid settings (unknown compose-only names are ignored).
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.default_model == Settings.model_fields["default_model"].default
    # Each commented default parses as the field's type.
    lines = [
        line.lstrip("# ")
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"^#\s*[A-Z][A-Z0-9_]*=", line)
    ]
    uncommented = tmp_path / "all.env"
    uncommented.write_text("\n".join(lines) + "\n")
    Settings(_env_file=uncommented)  # type: ignore[call-arg]


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    table_rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", README.read_text(), flags=re.MULTILINE)
    missing = settings_env_names() - set(table_rows)
    assert not missing, f"README's configuration table lacks {sorted(missing)}"
