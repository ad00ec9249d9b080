"""Rows built directly through the ORM, for tests that are not about uploads."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from backend.auth.projects import ensure_default_project
from backend.datasets.models import DatasetVersion, Demonstration
from backend.skills.models import Skill


def make_skill_with_version(
    session: Session, name: str = "greeting", n_train: int = 4, n_eval: int = 2
) -> tuple[Skill, DatasetVersion]:
    project_id = ensure_default_project(session).id
    skill = Skill(project_id=project_id, name=name, description="", scorer="exact", scorer_config={})
    session.add(skill)
    session.flush()
    version = DatasetVersion(
        skill_id=skill.id,
        version=1,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        filename="demos.jsonl",
        format="jsonl",
        n_examples=n_train + n_eval,
        n_train=n_train,
        n_eval=n_eval,
        report={},
    )
    session.add(version)
    session.flush()
    for index in range(n_train + n_eval):
        split = "train" if index < n_train else "eval"
        session.add(
            Demonstration(
                dataset_version_id=version.id,
                index=index,
                line=index + 1,
                split=split,
                prompt=[{"role": "user", "content": f"Say hello to person {index}."}],
                demonstration=f"Hello, person {index}!",
                reference=f"Hello, person {index}!",
            )
        )
    session.flush()
    return skill, version
