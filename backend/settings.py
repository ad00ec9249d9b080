"""The service's one typed configuration, read once from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=REPO_ROOT / "data", description="SQLite database, broker, artifacts, models."
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite under data_dir.")
    celery_broker_url: str = Field(
        default="", description="Celery broker; empty means the embedded SQLite broker."
    )
    default_model: str = "smollm2-135m"
    # Upload limits: checked while streaming, before anything is parsed or stored.
    max_upload_bytes: int = 50 * 1024 * 1024
    max_line_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_examples: int = 1_000_000
    # Every other request body (JSON) is cut at this size while it streams in.
    max_json_body_bytes: int = 1024 * 1024
    frontend_dist: Path = Field(default=REPO_ROOT / "frontend" / "dist")
    job_lease_seconds: int = 120
    reconcile_interval_s: float = 15.0
    # Each worker removes unreferenced artifacts this often (0: never); only ones older than the age.
    orphan_cleanup_interval_s: float = 3600.0
    orphan_min_age_s: float = 3600.0
    # Evaluations after a GPU training job go to the gpu queue too (else the cpu queue).
    evaluate_on_gpu: bool = False
    # Where a worker puts models: "auto" is the first CUDA GPU when the worker's torch sees one.
    worker_device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$")
    # Local model folders are accepted only under these roots (plus data_dir/models).
    model_roots: list[Path] = Field(default_factory=list)
    # Redis redelivers unacknowledged messages after this; it must exceed the longest job.
    broker_visibility_timeout_s: int = 7 * 24 * 3600
    # Accounts. AUTH_DISABLED makes every loopback request the local admin: for a single-user run
    # bound to 127.0.0.1 only (the app refuses to start with it on any other HOST).
    auth_disabled: bool = False
    host: str = Field(default="127.0.0.1", description="Address the API binds (scripts/serve.sh reads HOST).")
    session_hours: int = Field(default=24 * 14, ge=1, description="Browser session lifetime.")
    # Secure cookies need HTTPS; set it behind a TLS-terminating proxy.
    cookie_secure: bool = False
    # argon2id cost (RFC 9106's second recommendation by default); tests lower it.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=64)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Login throttling: after this many failed logins for one username (or, for the second number,
    # from one client address) within the window, logins answer 429 with Retry-After. Failures are
    # stored in the database, so every API process enforces the same lockout.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=50, ge=1)
    login_window_s: int = Field(default=900, ge=1)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'apprentice.db'}"

    @property
    def resolved_broker_url(self) -> str:
        if self.celery_broker_url:
            return self.celery_broker_url
        return f"sqla+sqlite:///{self.data_dir / 'broker.db'}"

    @property
    def broker_transport_options(self) -> dict[str, object]:
        # Only Redis (and SQS) redeliver on a visibility timeout; kombu's SQLAlchemy transport
        # hands these options to create_engine and refuses unknown ones.
        if self.resolved_broker_url.startswith(("redis", "rediss", "sqs")):
            return {"visibility_timeout": self.broker_visibility_timeout_s}
        return {}

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache
def get_settings() -> Settings:
    return Settings()
