"""The regression matrix and continual-learning summary on a synthetic branched track, every
number worked out by hand below."""

from __future__ import annotations

import pytest

from backend.evaluations.matrix import (
    CheckpointNode,
    GeneralResult,
    RetentionViolation,
    SkillResult,
    compute_regression_matrix,
)

A, B, C, D = 10, 20, 30, 40

# 0 base
# └─ 1 learns A
#    ├─ 2 learns B
#    │  ├─ 3 learns C
#    │  │  └─ 6 learns A again
#    │  └─ 4 learns D        (rolled back to 2, branched)
#    └─ 5 learns B           (rolled back to 1, B trained another way)
CHECKPOINTS = [
    CheckpointNode(0, None),
    CheckpointNode(1, 0, A),
    CheckpointNode(2, 1, B),
    CheckpointNode(3, 2, C),
    CheckpointNode(4, 2, D),
    CheckpointNode(5, 1, B),
    CheckpointNode(6, 3, A),
]
ACCURACY = {
    0: {A: 0.1, B: 0.2, C: 0.0, D: 0.3},
    1: {A: 0.8, B: 0.2, C: 0.1, D: 0.3},
    2: {A: 0.6, B: 0.9, C: 0.1, D: 0.3},
    3: {A: 0.5, B: 0.7, C: 0.9, D: 0.2},
    4: {A: 0.7, B: 0.95, D: 0.8},  # C never measured here
    5: {A: 0.75, B: 0.6, C: 0.1, D: 0.3},
    6: {A: 0.85, B: 0.6, C: 0.8, D: 0.2},
}
RESULTS = [SkillResult(ckpt, skill, value) for ckpt, row in ACCURACY.items() for skill, value in row.items()]
GENERAL = [GeneralResult(0, 0.5, 0.0), GeneralResult(2, 0.4, 0.12), GeneralResult(4, 0.55, 0.2)]


@pytest.fixture(scope="module")
def matrix():  # type: ignore[no-untyped-def]
    return compute_regression_matrix(CHECKPOINTS, RESULTS, GENERAL, retention_tolerance=0.15)


def test_rows_follow_the_tree_and_columns_the_learning_order(matrix) -> None:  # type: ignore[no-untyped-def]
    assert matrix.checkpoint_order == (0, 1, 2, 3, 6, 4, 5)
    assert matrix.skill_order == (A, B, C, D)
    assert len(matrix.cells) == 7 * 4
    assert [cell.checkpoint_id for cell in matrix.cells[:4]] == [0, 0, 0, 0]
    assert matrix.summary(4).path == (0, 1, 2, 4)
    assert matrix.summary(6).depth == 4


def test_cells_carry_the_change_since_the_skill_was_learned_on_their_own_path(matrix) -> None:  # type: ignore[no-untyped-def]
    assert matrix.cell(0, A).learned_at is None and matrix.cell(0, A).change_since_learned is None
    assert matrix.cell(1, A).change_since_learned == pytest.approx(0.0)
    assert matrix.cell(3, A).change_since_learned == pytest.approx(0.5 - 0.8)
    assert matrix.cell(3, B).change_since_learned == pytest.approx(0.7 - 0.9)
    # On 5's branch B was learned at 5, not at 2 (another branch).
    assert matrix.cell(5, B).learned_at == 5 and matrix.cell(5, B).change_since_learned == pytest.approx(0.0)
    # C was learned on 3's branch only: not learned as far as 4 and 5 know.
    assert matrix.cell(5, C).learned_at is None and matrix.cell(5, C).change_since_learned is None
    assert matrix.cell(4, C).accuracy is None
    # Learned again at 6: measured from there.
    assert matrix.cell(6, A).learned_at == 6 and matrix.cell(6, A).change_since_learned == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("checkpoint", "learned", "average", "bwt", "forgetting"),
    [
        (0, (), None, None, None),
        (1, (A,), 0.8, None, None),
        # A: 0.8 -> 0.6. ACC (0.6 + 0.9) / 2; F: best since learned 0.8, now 0.6.
        (2, (A, B), 0.75, -0.2, 0.2),
        # BWT ((0.5-0.8) + (0.7-0.9)) / 2; F ((0.8-0.5) + (0.9-0.7)) / 2.
        (3, (A, B, C), 0.7, -0.25, 0.25),
        # Path 0-1-2-4: C is not learned here. BWT ((0.7-0.8) + (0.95-0.9)) / 2;
        # F: A best 0.8 (at 1) - 0.7 = 0.1, B best 0.95 (now) - 0.95 = 0 -> 0.05.
        (4, (A, B, D), (0.7 + 0.95 + 0.8) / 3, -0.025, 0.05),
        # Path 0-1-5: B learned at 5 is the current skill; only A is earlier.
        (5, (A, B), 0.675, -0.05, 0.05),
        # A retrained at 6 is current; earlier B (at 2) and C (at 3).
        # BWT ((0.6-0.9) + (0.8-0.9)) / 2; F ((0.9-0.6) + (0.9-0.8)) / 2.
        (6, (B, C, A), 0.75, -0.2, 0.2),
    ],
)
def test_summary_per_checkpoint(matrix, checkpoint, learned, average, bwt, forgetting) -> None:  # type: ignore[no-untyped-def]
    summary = matrix.summary(checkpoint)
    assert summary.skills_learned == learned
    for got, want in [
        (summary.average_accuracy, average),
        (summary.backward_transfer, bwt),
        (summary.forgetting, forgetting),
    ]:
        assert got == (None if want is None else pytest.approx(want))


def test_general_probe_and_retention_violations(matrix) -> None:  # type: ignore[no-untyped-def]
    assert matrix.summary(2).general_accuracy == pytest.approx(0.4)
    assert matrix.summary(2).general_change_from_root == pytest.approx(-0.1)
    assert matrix.summary(4).general_change_from_root == pytest.approx(0.05)
    assert matrix.summary(4).kl_from_base == pytest.approx(0.2)
    assert matrix.summary(3).general_accuracy is None and matrix.summary(3).general_change_from_root is None
    # Tolerance 0.15: A dropped 0.3 at 3 and 0.2 at 2; B dropped 0.2 at 3; C only 0.1 at 6.
    assert [v.skill_id for v in matrix.summary(3).retention_violations] == [A, B]
    assert matrix.summary(2).retention_violations == (
        RetentionViolation(
            skill_id=A, learned_at=1, accuracy_when_learned=0.8, accuracy=0.6, change=pytest.approx(-0.2)
        ),
    )
    assert [v.skill_id for v in matrix.summary(6).retention_violations] == [B]
    assert matrix.summary(4).retention_violations == ()
    assert compute_regression_matrix(CHECKPOINTS, RESULTS).summary(3).retention_violations == ()


def test_forgetting_counts_only_the_history_since_the_skill_was_learned() -> None:
    # The base already scored 0.9 on A; learning A lowered it to 0.7, then B left it at 0.7.
    nodes = [CheckpointNode(1, None), CheckpointNode(2, 1, A), CheckpointNode(3, 2, B)]
    results = [SkillResult(1, A, 0.9), SkillResult(2, A, 0.7), SkillResult(3, A, 0.7), SkillResult(3, B, 0.5)]
    summary = compute_regression_matrix(nodes, results).summary(3)
    assert summary.backward_transfer == pytest.approx(0.0)
    assert summary.forgetting == pytest.approx(0.0)


def test_missing_measurements_leave_their_skill_out_of_the_means() -> None:
    nodes = [
        CheckpointNode(1, None),
        CheckpointNode(2, 1, A),
        CheckpointNode(3, 2, B),
        CheckpointNode(4, 3, C),
    ]
    # A never measured where it was learned; B measured where learned but not at 4.
    results = [SkillResult(3, A, 0.4), SkillResult(3, B, 0.9), SkillResult(4, A, 0.3), SkillResult(4, C, 0.6)]
    summary = compute_regression_matrix(nodes, results).summary(4)
    assert summary.average_accuracy == pytest.approx((0.3 + 0.6) / 2)
    assert summary.backward_transfer is None  # A has no "just after learned", B no "now"
    # A's best since learned (at 2) among measured checkpoints is 0.4 at 3.
    assert summary.forgetting == pytest.approx(0.1)


def test_skills_measured_but_never_learned_get_a_column_and_no_change() -> None:
    nodes = [CheckpointNode(1, None), CheckpointNode(2, 1, B)]
    matrix = compute_regression_matrix(nodes, [SkillResult(1, A, 0.5), SkillResult(2, B, 1.0)])
    assert matrix.skill_order == (B, A)
    assert matrix.cell(2, A).accuracy is None and matrix.cell(1, A).change_since_learned is None


def test_several_roots_are_separate_trees() -> None:
    nodes = [CheckpointNode(5, None), CheckpointNode(3, None), CheckpointNode(4, 3, A)]
    matrix = compute_regression_matrix(nodes, [SkillResult(4, A, 1.0)])
    assert matrix.checkpoint_order == (3, 4, 5)
    assert matrix.summary(5).skills_learned == ()


@pytest.mark.parametrize(
    ("nodes", "results", "message"),
    [
        ([CheckpointNode(1, None), CheckpointNode(1, None)], [], "checkpoint 1 is listed twice"),
        ([CheckpointNode(1, 7)], [], "checkpoint 1: parent 7 is not among the checkpoints"),
        (
            [CheckpointNode(1, None), CheckpointNode(2, 3), CheckpointNode(3, 2)],
            [],
            r"checkpoints \[2, 3\] form a cycle",
        ),
        ([CheckpointNode(1, None)], [SkillResult(9, A, 0.5)], "checkpoint 9 on skill 10: unknown checkpoint"),
        ([CheckpointNode(1, None)], [SkillResult(1, A, 0.5), SkillResult(1, A, 0.6)], "listed twice"),
        ([CheckpointNode(1, None)], [SkillResult(1, A, 85.0)], r"fraction in \[0, 1\], got 85.0"),
        ([CheckpointNode(1, None)], [SkillResult(1, A, float("nan"))], "finite number"),
    ],
)
def test_inconsistent_input_is_named(nodes, results, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        compute_regression_matrix(nodes, results)


def test_bad_general_result_and_tolerance_are_named() -> None:
    nodes = [CheckpointNode(1, None)]
    with pytest.raises(ValueError, match="general result of checkpoint 2: unknown checkpoint"):
        compute_regression_matrix(nodes, [], [GeneralResult(2, 0.5)])
    with pytest.raises(ValueError, match="general result of checkpoint 1: listed twice"):
        compute_regression_matrix(nodes, [], [GeneralResult(1, 0.5), GeneralResult(1, 0.5)])
    with pytest.raises(ValueError, match="retention_tolerance"):
        compute_regression_matrix(nodes, [], retention_tolerance=-0.1)


def test_a_long_track_does_not_recurse() -> None:
    nodes = [CheckpointNode(0, None)] + [CheckpointNode(i, i - 1, i % 5) for i in range(1, 3000)]
    matrix = compute_regression_matrix(nodes, [SkillResult(2999, 4, 1.0)])
    assert matrix.summary(2999).depth == 2999
