"""Counterfactual explanations: the smallest history or text change that moves an item, verified by re-scoring.

Every search is greedy in attribution order and bounded (SearchBounds). A set that
works is then minimised by dropping members while the change still holds. Before
a result is returned, fresh calls to `rescore` (not the search's batched scores)
verify it, once with the whole set and once without each member. "Minimal" means
that no set with one member fewer works. It does not prove that no smaller set of
other members works.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from genre_core.explain.leave_one_out import leave_one_out
from genre_core.explain.scoring import build_problem
from genre_core.inputs import History
from genre_core.schema import ITEM_ID, TITLE
from genre_core.training import item_texts
from genre_core.whatif.edits import Edits, WhatIfError, catalogue_position, user_position
from genre_core.whatif.engine import WhatIfResult, ranks_of, rescore, score_histories
from genre_core.whatif.text import encode_edited_texts

log = logging.getLogger(__name__)

KINDS = ("leave_top_k", "enter_top_k", "versus", "text")


@dataclass(frozen=True)
class SearchBounds:
    """Limits of one counterfactual search; the result names the one it reached."""

    max_size: int = 30  # largest set of history items or words tried
    max_rescores: int = 300  # candidate sets scored by the search and the minimisation, verification excluded

    def __post_init__(self) -> None:
        for name, (low, high) in {"max_size": (1, 200), "max_rescores": (1, 100_000)}.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise WhatIfError(f"{name} must be an integer from {low} to {high}, got {value!r}")


@dataclass
class Counterfactual:
    """One counterfactual: the change, the ranks it gives, the search bounds and the verification."""

    kind: str
    user_id: str
    item_id: str
    k: int
    found: bool
    members: list[dict]  # history items ({item_id, title}) or words ({word, attribution})
    edits: Edits  # the edits that apply the change
    rank_before: int
    rank_after: int | None
    versus_item_id: str | None = None
    versus_rank_before: int | None = None
    versus_rank_after: int | None = None
    item_title: str = ""  # the item's title, or its ID when the dataset has no titles
    versus_title: str | None = None
    rescores: int = 0
    bound_reached: str | None = None  # "max_size" or "max_rescores" when the search stopped at a bound
    bounds: SearchBounds = field(default_factory=SearchBounds)
    verification: dict | None = None
    seconds: float = 0.0

    @property
    def size(self) -> int:
        return len(self.members)

    def to_dict(self) -> dict:
        result = asdict(self)
        result["edits"] = self.edits.to_dict()
        result["size"] = self.size
        return result


# History counterfactuals


def history_counterfactual(recommender, user_id: str, item_id: str, k: int = 10,
                           bounds: SearchBounds | None = None) -> Counterfactual:
    """Find the smallest set of past items whose removal pushes `item_id` out of the user's top-k."""
    state = _State.start(recommender, user_id, item_id, k, bounds)
    if state.rank > k:
        raise WhatIfError(f"item {item_id!r} is at rank {state.rank}, outside the top {k} of user {user_id!r}; "
                          "pick an item from the top-k, or ask what would bring it in")
    competitor = state.item_at_rank(k + 1)
    order = _attribution_order(recommender, state, competitor, largest_first=True)
    return state.search("leave_top_k", order, lambda result: _rank(result, state.item_id) > k)


def bring_into_top_k(recommender, user_id: str, item_id: str, k: int = 10,
                     bounds: SearchBounds | None = None) -> Counterfactual:
    """Find the smallest set of past items whose removal brings `item_id` into the user's top-k ("why not")."""
    state = _State.start(recommender, user_id, item_id, k, bounds)
    if state.rank <= k:
        raise WhatIfError(f"item {item_id!r} is already at rank {state.rank}, inside the top {k} of user {user_id!r}; "
                          "pick an item outside the top-k")
    competitor = state.item_at_rank(k)
    order = _attribution_order(recommender, state, competitor, largest_first=False)
    return state.search("enter_top_k", order, lambda result: _rank(result, state.item_id) <= k)


def versus_counterfactual(recommender, user_id: str, item_id: str, versus: str, k: int = 10,
                          bounds: SearchBounds | None = None) -> Counterfactual:
    """Find the smallest set of past items whose removal puts `versus` (B) above `item_id` (A)."""
    state = _State.start(recommender, user_id, item_id, k, bounds)
    versus_index = state.check_candidate(versus)
    if versus_index == state.item_index:
        raise WhatIfError(f"item B ({versus!r}) must differ from item A ({item_id!r}); pick another item")
    versus_rank = int(state.ranks[versus_index])
    if versus_rank < state.rank:
        raise WhatIfError(f"item {versus!r} (rank {versus_rank}) already ranks above {item_id!r} (rank {state.rank}); "
                          "swap the two items")
    state.versus_index, state.versus_rank = versus_index, versus_rank
    order = _attribution_order(recommender, state, versus_index, largest_first=True)
    versus_id = str(recommender.dataset.item_ids[versus_index])
    return state.search("versus", order, lambda result: _rank(result, versus_id) < _rank(result, state.item_id))


# Text counterfactual


def text_counterfactual(recommender, user_id: str, item_id: str, k: int = 10, bounds: SearchBounds | None = None,
                        settings=None) -> Counterfactual:
    """Find the words of the item's text whose removal moves its rank down most, in word-attribution order.

    `found` is True when the removal pushes the item out of the top-k. Otherwise the
    result is the tried removal with the lowest rank, and bound_reached names the bound that stopped the search.
    """
    from genre_core.explain import ExplainSettings
    from genre_core.explain.tokens import word_attributions

    state = _State.start(recommender, user_id, item_id, k, bounds)
    text = item_texts(recommender.dataset)[state.item_index]
    if "text" not in recommender.model.item_tower.modalities or not text.strip():
        raise WhatIfError(f"item {item_id!r} has no text the model reads, so there are no words to remove; "
                          "pick an item with text")
    problem = build_problem(recommender, state.user_index, [state.item_index], state.history, "mean")
    config = recommender.config.text
    words = word_attributions(problem, text, config.model, config.max_length, settings or ExplainSettings())["words"]
    order = [int(position) for position in np.argsort([-word["attribution"] for word in words], kind="stable")]
    return _TextSearch(recommender, state, words).run(order)


# Shared search state


@dataclass
class _State:
    recommender: object
    user_id: str
    item_id: str
    user_index: int
    item_index: int
    history: History
    k: int
    bounds: SearchBounds
    scores: torch.Tensor
    ranks: np.ndarray
    started: float
    versus_index: int | None = None
    versus_rank: int | None = None
    rescores: int = 0

    @classmethod
    def start(cls, recommender, user_id, item_id, k, bounds) -> _State:
        n_items = recommender.dataset.n_items
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n_items:
            raise WhatIfError(f"k must be an integer from 1 to {n_items - 1}, got {k!r}")
        started = time.perf_counter()
        user_index = user_position(recommender.dataset, user_id)
        history = recommender.histories[user_index]
        scores = score_histories(recommender, user_index, [history])[0]
        state = cls(recommender, str(user_id).strip(), str(item_id).strip(), user_index, 0, history, int(k),
                    bounds or SearchBounds(), scores, ranks_of(scores.unsqueeze(0))[0], started)
        recommendable = int(np.isfinite(state.ranks).sum())
        if state.k >= recommendable:
            raise WhatIfError(f"k = {k} leaves no item outside the top-k: user {state.user_id!r} can be recommended "
                              f"only {recommendable} items; give a k from 1 to {recommendable - 1}")
        state.item_index = state.check_candidate(item_id)
        return state

    @property
    def rank(self) -> int:
        return int(self.ranks[self.item_index])

    def check_candidate(self, item_id: str) -> int:
        index = catalogue_position(self.recommender.dataset, item_id, "explain")
        if not np.isfinite(self.ranks[index]):
            raise WhatIfError(f"item {item_id!r} is in the history of user {self.user_id!r}, so it is never "
                              "recommended; pick an item the user has not seen")
        return index

    def item_at_rank(self, rank: int) -> int:
        return int(np.flatnonzero(self.ranks == rank)[0])

    def search(self, kind: str, order: list[int], holds: Callable[[WhatIfResult], bool]) -> Counterfactual:
        if len(self.history) == 0:
            raise WhatIfError(f"user {self.user_id!r} has no history, so there are no past items to remove")
        members, bound = _HistorySearch(self, kind).run(order)
        return self.finish(kind, members, bound, holds)

    def finish(self, kind, members, bound, holds) -> Counterfactual:
        dataset = self.recommender.dataset
        ids = [str(dataset.item_ids[index]) for index in members or []]
        edits = Edits(remove=tuple(ids))
        result = Counterfactual(
            kind=kind, user_id=self.user_id, item_id=self.item_id, k=self.k, found=members is not None,
            members=[{"item_id": item, "title": _title(dataset, index)} for item, index in zip(ids, members or [])],
            edits=edits, rank_before=self.rank, rank_after=None, rescores=self.rescores, bound_reached=bound,
            bounds=self.bounds, item_title=_title(dataset, self.item_index),
        )
        self.add_versus(result)
        if members is not None:
            result.verification = verify(self.recommender, result, holds, lambda subset: Edits(remove=tuple(subset)),
                                         ids)
            result.rank_after = result.verification["rank_after"]
            result.versus_rank_after = result.verification.get("versus_rank_after")
        result.seconds = time.perf_counter() - self.started
        log.info("%s counterfactual of user %s item %s: found=%s size=%d rescores=%d in %.2f s", kind, self.user_id,
                 self.item_id, result.found, result.size, result.rescores, result.seconds)
        return result

    def add_versus(self, result: Counterfactual) -> None:
        if self.versus_index is not None:
            result.versus_item_id = str(self.recommender.dataset.item_ids[self.versus_index])
            result.versus_title = _title(self.recommender.dataset, self.versus_index)
            result.versus_rank_before = self.versus_rank


class _HistorySearch:
    """Remove past items in attribution order until the change holds, then drop members that are not needed."""

    def __init__(self, state: _State, kind: str):
        self.state = state
        self.kind = kind

    def holds(self, scores: torch.Tensor) -> np.ndarray:
        ranks = ranks_of(scores)
        state = self.state
        item = ranks[:, state.item_index]
        if self.kind == "leave_top_k":
            return item > state.k
        if self.kind == "enter_top_k":
            return item <= state.k
        return ranks[:, state.versus_index] < item

    def score(self, removal_sets: list[list[int]]) -> np.ndarray:
        state = self.state
        histories = [_without(state.history, removed) for removed in removal_sets]
        state.rescores += len(histories)
        return self.holds(score_histories(state.recommender, state.user_index, histories))

    def run(self, order: list[int]) -> tuple[list[int] | None, str | None]:
        state, bounds = self.state, self.state.bounds
        sizes = min(len(order), bounds.max_size, bounds.max_rescores)
        works = self.score([order[:size] for size in range(1, sizes + 1)])
        if not works.any():
            if sizes < min(len(order), bounds.max_size):
                return None, "max_rescores"
            return None, "max_size" if len(order) > bounds.max_size else None
        members = order[:int(np.argmax(works)) + 1]
        return self.minimise(members)

    def minimise(self, members: list[int]) -> tuple[list[int], str | None]:
        return minimise(members, lambda trial: bool(self.score([trial])[0]), self.state)


class _TextSearch:
    """Remove words in attribution order, scoring the item with each shortened text."""

    def __init__(self, recommender, state: _State, words: list[dict]):
        self.recommender = recommender
        self.state = state
        self.words = words
        others = state.scores.clone()
        others[state.item_index] = float("-inf")
        self.others = others[torch.isfinite(others)]
        with torch.no_grad():
            batch = recommender.inputs.user_batch([state.user_index], [state.history],
                                                  recommender.config.model.max_history, recommender.device)
            self.user_vector = recommender.model.user_vectors(recommender.item_vectors, batch)

    def text_without(self, removed) -> str:
        return " ".join(word["word"] for position, word in enumerate(self.words) if position not in set(removed))

    def ranks(self, removal_sets: list[list[int]]) -> np.ndarray:
        state, recommender = self.state, self.recommender
        texts = [self.text_without(removed) for removed in removal_sets]
        config = recommender.config.text
        encoded = encode_edited_texts(texts, config.model, config.max_length, recommender.inputs.text_dim)
        rows = torch.full((len(texts),), state.item_index, dtype=torch.long)
        inputs = {key: value[rows].clone() for key, value in recommender.inputs.items.items()}
        inputs["text"] = torch.from_numpy(np.stack([result.vector for result in encoded]))
        inputs["text_present"] = torch.tensor([float(result.present) for result in encoded])
        with torch.no_grad():
            vectors = recommender.model.item_vectors({key: value.to(recommender.device) for key, value in inputs.items()})
            scores = recommender.model.score(self.user_vector, vectors, rows.to(recommender.device))[0].cpu()
        state.rescores += len(texts)
        return 1 + (self.others.unsqueeze(0) > scores.unsqueeze(1)).sum(1).numpy()

    def run(self, order: list[int]) -> Counterfactual:
        state, bounds = self.state, self.state.bounds
        sizes = min(len(order), bounds.max_size, bounds.max_rescores)
        prefixes = [order[:size] for size in range(1, sizes + 1)]
        ranks = self.ranks(prefixes)
        out = np.flatnonzero(ranks > state.k)
        bound = None
        if len(out):
            members, bound = self.minimise(prefixes[int(out[0])])
        else:
            members = prefixes[int(np.argmax(ranks))]
            if sizes < min(len(order), bounds.max_size):
                bound = "max_rescores"
            elif len(order) > bounds.max_size:
                bound = "max_size"
        return self.finish(members, found=bool(len(out)), bound=bound)

    def minimise(self, members: list[int]) -> tuple[list[int], str | None]:
        return minimise(members, lambda trial: bool(self.ranks([trial])[0] > self.state.k), self.state)

    def finish(self, members: list[int], found: bool, bound: str | None) -> Counterfactual:
        state = self.state
        members = sorted(members)
        edits = Edits(item_texts={state.item_id: self.text_without(members)})
        result = Counterfactual(
            kind="text", user_id=state.user_id, item_id=state.item_id, k=state.k, found=found,
            members=[{"word": self.words[position]["word"], "attribution": self.words[position]["attribution"]}
                     for position in members],
            edits=edits, rank_before=state.rank, rank_after=None, rescores=state.rescores, bound_reached=bound,
            bounds=state.bounds, item_title=_title(state.recommender.dataset, state.item_index),
        )
        k, item_id = state.k, state.item_id
        holds = (lambda after: _rank(after, item_id) > k) if found else (lambda after: True)
        result.verification = verify(
            self.recommender, result, holds,
            lambda subset: Edits(item_texts={item_id: self.text_without([p for p in members if p in subset])}),
            members, check_minimality=found,
        )
        result.rank_after = result.verification["rank_after"]
        result.seconds = time.perf_counter() - state.started
        log.info("text counterfactual of user %s item %s: found=%s words=%d rescores=%d in %.2f s", state.user_id,
                 item_id, found, result.size, result.rescores, result.seconds)
        return result


def minimise(members: list[int], holds: Callable[[list[int]], bool], state: _State) -> tuple[list[int], str | None]:
    """Drop members one at a time, weakest attribution first, while the change still holds.

    Passes repeat until one pass drops nothing, so without a bound the result has no
    member whose removal keeps the change. Returns the members and the bound reached, if any.
    """
    members = list(members)
    changed = True
    while changed and len(members) > 1:
        changed = False
        for member in reversed(list(members)):
            if len(members) == 1:
                break
            if state.rescores >= state.bounds.max_rescores:
                return members, "max_rescores"
            trial = [other for other in members if other != member]
            if holds(trial):
                members, changed = trial, True
    return members, None


# Verification


def verify(recommender, result: Counterfactual, holds: Callable[[WhatIfResult], bool],
           make_edits: Callable[[list], Edits], members: list, check_minimality: bool = True) -> dict:
    """Re-score the change with fresh calls: once with every member, and once without each member."""
    after = rescore(recommender, result.user_id, make_edits(members), result.k)
    verification = {
        "holds": bool(holds(after)),
        "rank_before": _rank_before(after, result.item_id),
        "rank_after": _rank(after, result.item_id),
        "in_top_k_after": _rank(after, result.item_id) <= result.k,
        "without_each_member": [],
    }
    if result.versus_item_id is not None:
        verification["versus_rank_after"] = _rank(after, result.versus_item_id)
    if check_minimality:
        for member in members:
            subset = [other for other in members if other != member]
            reduced = rescore(recommender, result.user_id, make_edits(subset), result.k)
            verification["without_each_member"].append({
                "member": _label(result, member, members), "rank_after": _rank(reduced, result.item_id),
                "still_holds": bool(holds(reduced)),
            })
    verification["minimal"] = check_minimality and not any(
        row["still_holds"] for row in verification["without_each_member"])
    verification["verified"] = verification["holds"] and (verification["minimal"] or not check_minimality)
    return verification


def _label(result: Counterfactual, member, members: list) -> str:
    position = members.index(member)
    row = result.members[position]
    return row.get("item_id") or row.get("word")


def _rank(result: WhatIfResult, item_id: str) -> int:
    value = result.changes.loc[result.changes[ITEM_ID] == item_id, "rank_after"].iloc[0]
    return int(value) if np.isfinite(value) else result.changes.shape[0] + 1


def _rank_before(result: WhatIfResult, item_id: str) -> int:
    return int(result.changes.loc[result.changes[ITEM_ID] == item_id, "rank_before"].iloc[0])


def _attribution_order(recommender, state: _State, competitor: int, largest_first: bool) -> list[int]:
    """Past items ordered by leave-one-out attribution of the margin score(item) - score(competitor)."""
    problem = build_problem(recommender, state.user_index, [state.item_index, competitor], state.history, "mean")
    drops = leave_one_out(problem)
    order = np.argsort(-drops if largest_first else drops, kind="stable")
    return [int(problem.history_items[position]) for position in order]


def _without(history: History, removed: list[int]) -> History:
    keep = ~np.isin(history.items, np.asarray(removed, dtype=np.int64))
    return History(history.items[keep], history.ratings[keep], history.timestamps[keep])


def _title(dataset, index: int) -> str:
    items = dataset.items
    return str(items.iloc[index][TITLE]) if TITLE in items.columns else str(dataset.item_ids[index])
