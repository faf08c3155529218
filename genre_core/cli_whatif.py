"""`genre counterfactual`, and the what-if part of `genre recommend` (--without-history, --with-history)."""

from __future__ import annotations

import logging
import math
from typing import Any

from genre_core.schema import ITEM_ID, TITLE

log = logging.getLogger(__name__)


def add_commands(commands, common) -> None:
    parser = commands.add_parser(
        "counterfactual", parents=[common],
        help="smallest history or text change that moves one item in or out of a user's top-k, verified by re-scoring",
    )
    parser.add_argument("--user", required=True, help="user ID")
    parser.add_argument("--item", required=True,
                        help="item ID (A): in the top-k, find what pushes it out; outside, what brings it in")
    parser.add_argument("--versus", help="item ID (B): find what puts B above A")
    parser.add_argument("--text", action="store_true", help="remove words of A's text instead of past items")
    # Counts are checked by the handler, so a bad value gives one line of error and no usage text.
    parser.add_argument("--k", default="10", help="size of the top-k list (default: %(default)s)")
    parser.add_argument("--max-size", default="30", help="largest set of past items or words tried (default: %(default)s)")
    parser.add_argument("--max-rescores", default="300",
                        help="most candidate sets scored by the search (default: %(default)s)")
    parser.add_argument("--version", help="model version (default: the active one)")
    parser.set_defaults(handler=run_counterfactual)


def add_history_options(parser) -> None:
    """Add the what-if options of `genre recommend`."""
    # The lists are parsed by the handler, so a bad entry gives one line of error and no usage text.
    # Repeating an option adds to its list.
    parser.add_argument("--without-history", action="append", default=[], metavar="I1,I2",
                        help="re-score as if these past items (comma-separated IDs) were not in the history")
    parser.add_argument("--with-history", action="append", default=[], metavar="I1[:R],I2",
                        help="re-score as if these items (comma-separated IDs, each with an optional :rating) "
                             "were added to the history")


def has_history_edits(args) -> bool:
    return bool(getattr(args, "without_history", None) or getattr(args, "with_history", None))


def run_counterfactual(args) -> dict[str, Any]:
    from genre_core.whatif import (
        SearchBounds, bring_into_top_k, history_counterfactual, text_counterfactual, versus_counterfactual,
    )

    k = _count(args.k, "--k")
    bounds = SearchBounds(max_size=_count(args.max_size, "--max-size"),
                          max_rescores=_count(args.max_rescores, "--max-rescores"))
    if args.versus is not None and not args.versus.strip():
        raise ValueError("--versus is empty; give the ID of item B, or leave --versus out")
    if args.versus is not None and args.versus.strip() == args.item.strip():
        raise ValueError(f"item B (--versus {args.versus!r}) must differ from item A (--item {args.item!r}); "
                         "pick another item")
    if args.versus is not None and args.text:
        raise ValueError("--versus and --text cannot be combined; give only one of them")
    args.k = k
    recommender = _load(args)
    if args.versus is not None:
        result = versus_counterfactual(recommender, args.user, args.item, args.versus, k=args.k, bounds=bounds)
    elif args.text:
        result = text_counterfactual(recommender, args.user, args.item, k=args.k, bounds=bounds)
    elif _in_top_k(recommender, args.user, args.item, args.k):
        result = history_counterfactual(recommender, args.user, args.item, k=args.k, bounds=bounds)
    else:
        result = bring_into_top_k(recommender, args.user, args.item, k=args.k, bounds=bounds)
    return result.to_dict()


def run_recommend_with_edits(args) -> dict[str, Any]:
    """Re-score `args.user` with history items removed or added; the result has the `recommend` layout."""
    from genre_core.whatif import Edits, rescore

    removed = [pair for text in args.without_history for pair in _item_list(text, "--without-history")]
    added = [pair for text in args.with_history for pair in _item_list(text, "--with-history")]
    rated = [item for item, rating in removed if rating is not None]
    if rated:
        raise ValueError(f"--without-history takes item IDs only, but item {rated[0]!r} has a rating; "
                         "drop the :rating")
    edits = Edits(remove=tuple(item for item, _ in removed), add=_unique_pairs(added))
    recommender = _load(args)
    result = rescore(recommender, args.user, edits, k=args.k)
    for note in result.notes:
        log.warning("%s", note["message"])
    items = result.after.rename(columns={"rank_after": "rank", "score_after": "score"})
    items["rank"] = items["rank"].astype(int)
    return {
        "user_id": result.user_id, "model_version": recommender.version, "device": str(recommender.device),
        "cold_start": result.cold_start, "seconds": round(result.seconds, 4), "edits": edits.to_dict(),
        "history_size_before": result.history_size[0], "history_size_after": result.history_size[1],
        "notes": [note["message"] for note in result.notes],
        "items": items[["rank", ITEM_ID, TITLE, "score", "rank_before", "rank_change", "score_change"]]
        .astype(object).where(items.notna(), None).to_dict(orient="records"),
        "before": result.to_dict()["before"],
    }


def _load(args):
    from genre_core.config import load_config
    from genre_core.service import Recommender

    return Recommender.load(load_config(args.config), version=args.version, device=getattr(args, "device", None) or "cpu")


def _in_top_k(recommender, user_id: str, item_id: str, k: int) -> bool:
    from genre_core.whatif.edits import catalogue_position, user_position

    user_position(recommender.dataset, user_id)
    catalogue_position(recommender.dataset, item_id, "explain")
    top = recommender.recommend(user_id, k=min(k, 1000)).items
    return str(item_id).strip() in set(top[ITEM_ID].astype(str))


def _count(text, option: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a whole number; give a number such as 10") from None
    if value < 1:
        raise ValueError(f"{option} {value} is too small; give a number of at least 1")
    return value


def _item_list(text: str, option: str) -> list[tuple[str, float | None]]:
    """Parse "I1,I2:4" into [(I1, None), (I2, 4.0)], or raise ValueError naming the bad entry."""
    pairs = []
    for part in text.split(","):
        item, _, rating = part.strip().partition(":")
        item, rating = item.strip(), rating.strip()
        if not item:
            raise ValueError(f"{option} {text!r} has an empty item ID; give comma-separated IDs such as 1,50")
        if not rating:
            pairs.append((item, None))
            continue
        try:
            value = float(rating)
        except ValueError:
            value = math.nan
        if "_" in rating or not math.isfinite(value):
            raise ValueError(f"{option} has rating {rating!r} for item {item!r}, which is not a number; "
                             "give a number such as 4")
        pairs.append((item, value))
    return pairs


def _unique_pairs(pairs: list[tuple[str, float | None]]) -> dict[str, float | None]:
    added: dict[str, float | None] = {}
    for item, rating in pairs:
        if item in added:
            raise ValueError(f"item {item!r} is listed twice in --with-history; list each item once")
        added[item] = rating
    return added
