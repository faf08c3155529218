"""Ready-made causal questions on MovieLens, and the custom question an analyst assembles."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from genre_core.causal import columns as c
from genre_core.causal.errors import CausalInputError
from genre_core.causal.graph import default_graph, parse_dot, to_dot


@dataclass(frozen=True)
class Question:
    """A treatment, an outcome and the confounders to adjust for; `graph_dot` overrides the default graph."""

    treatment: str
    outcome: str
    confounders: tuple[str, ...]
    graph_dot: str | None = None
    name: str = "custom"
    needs_model: bool = False

    def graph(self) -> nx.DiGraph:
        if self.graph_dot:
            return parse_dot(self.graph_dot)
        return default_graph(self.treatment, self.outcome, list(self.confounders))

    def dot(self) -> str:
        return to_dot(self.graph())

    def to_dict(self) -> dict:
        return {"name": self.name, "treatment": self.treatment, "outcome": self.outcome,
                "confounders": list(self.confounders), "graph": self.dot()}


_USER = (c.USER_AGE, c.USER_MALE, c.USER_ACTIVITY)

QUESTIONS: dict[str, Question] = {
    "popularity": Question(
        c.POPULAR, c.HIGH_RATING, (c.ITEM_YEAR, c.GENRE_COUNT, *_USER), name="popularity",
    ),
    "genre_match": Question(
        c.GENRE_MATCH, c.HIGH_RATING, (c.ITEM_YEAR, c.GENRE_COUNT, c.ITEM_PRIOR_RATINGS, *_USER), name="genre_match",
    ),
    "recency": Question(
        c.RECENT, c.HIGH_RATING, (c.GENRE_COUNT, c.ITEM_PRIOR_RATINGS, *_USER), name="recency",
    ),
    "top10": Question(
        c.IN_TOP10, c.HIGH_RATING, (c.ITEM_YEAR, c.GENRE_COUNT, c.ITEM_PRIOR_RATINGS, c.GENRE_MATCH, *_USER),
        name="top10", needs_model=True,
    ),
}


def get_question(name: str) -> Question:
    if name not in QUESTIONS:
        raise CausalInputError(f"unknown causal question {name!r}; choose one of {', '.join(QUESTIONS)}")
    return QUESTIONS[name]


def custom_question(treatment: str, outcome: str, confounders, graph_dot: str | None = None) -> Question:
    """Build an analyst's own question; with `graph_dot` its edges replace the default graph."""
    if treatment == outcome:
        raise CausalInputError(f"treatment and outcome are both {treatment!r}; choose two different columns")
    return Question(treatment, outcome, tuple(confounders), graph_dot=graph_dot or None)
