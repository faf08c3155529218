"""Promotion guard: a retrained model replaces the active one only if it kept its quality and learned the labels."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GuardDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"promote": self.promote, "reasons": self.reasons}


def decide(ndcg_before: float, ndcg_after: float, moved: list[bool], tolerance: float) -> GuardDecision:
    """Promote when validation NDCG@10 fell by at most `tolerance` and every labelled item moved as labelled."""
    reasons = []
    drop = ndcg_before - ndcg_after
    if drop > tolerance:
        reasons.append(
            f"validation NDCG@10 fell by {drop:.4f} ({ndcg_before:.4f} -> {ndcg_after:.4f}), "
            f"more than the tolerance {tolerance:.4f} (feedback.tolerance)"
        )
    stuck = len(moved) - sum(moved)
    if stuck:
        reasons.append(f"{stuck} of {len(moved)} labelled items did not move in the labelled direction")
    return GuardDecision(promote=not reasons, reasons=reasons)
