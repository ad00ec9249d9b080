"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from backend.auth.models import AuthToken, LoginFailure, Project, ProjectMember, User
from backend.checkpoints.models import Checkpoint
from backend.datasets.models import DatasetVersion, Demonstration
from backend.db import Base
from backend.evaluations.models import Evaluation
from backend.jobs.models import Job, JobEvent, RolloutTrace
from backend.preflight.models import PreflightReport
from backend.skills.models import Skill
from backend.tracks.models import Track

__all__ = [
    "AuthToken",
    "Base",
    "Checkpoint",
    "DatasetVersion",
    "Demonstration",
    "Evaluation",
    "Job",
    "Project",
    "ProjectMember",
    "JobEvent",
    "LoginFailure",
    "PreflightReport",
    "RolloutTrace",
    "Skill",
    "Track",
    "User",
]
