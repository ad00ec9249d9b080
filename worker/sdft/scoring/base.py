"""What every scorer is: a frozen dataclass of its configuration that judges one output."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Verdict:
    """A scorer's decision with a short human-readable reason (shown next to sample outputs)."""

    correct: bool
    reason: str


@dataclass(frozen=True)
class Scorer(ABC):
    """Base of all scorers: frozen dataclasses whose fields are the scorer's configuration."""

    name: ClassVar[str]

    @abstractmethod
    def judge(self, output: str, reference: str) -> Verdict:
        """Score one output and say why."""

    def score(self, output: str, reference: str) -> bool:
        return self.judge(output, reference).correct

    def check_reference(self, reference: str) -> None:
        """Raise ValueError when `reference` can never be scored (call it when data is uploaded)."""
        if not isinstance(reference, str):
            raise ValueError(f"{self.name}: reference must be a string, got {type(reference).__name__}")

    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this scorer with `get_scorer(self.name, **config)`."""
        return asdict(self)

    def _require_bool(self, *field_names: str) -> None:
        for field_name in field_names:
            value = getattr(self, field_name)
            if not isinstance(value, bool):
                raise ValueError(f"{self.name}: {field_name} must be true or false, got {value!r}")
