"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from backend.checkpoints.models import Checkpoint
from backend.datasets.models import DatasetVersion, Demonstration
from backend.db import Base
from backend.evaluations.models import Evaluation
from backend.jobs.models import Job, JobEvent, RolloutTrace
from backend.skills.models import Skill
from backend.tracks.models import Track

__all__ = [
    "Base",
    "Checkpoint",
    "DatasetVersion",
    "Demonstration",
    "Evaluation",
    "Job",
    "JobEvent",
    "RolloutTrace",
    "Skill",
    "Track",
]
