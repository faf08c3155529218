"""Widgets and tables of the What-if page: the edit form, the before/after lists and counterfactual results."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from genre_core.features import UNKNOWN, TabularEncoding
from genre_core.schema import ITEM_ID, RATING, TITLE
from genre_core.training import item_texts
from genre_core.whatif import Edits
from genre_core.whatif.edits import numeric_range, rating_range
from ui.language import t
from ui.tables import attribute_label, full_height

# Every widget that stores an edit has a key with this prefix, so "reset" can clear them all.
EDIT_PREFIX = "whatif_edit_"
RESULT_KEYS = ("whatif_cf", "whatif_whynot", "whatif_attr")
# The user whose history or attributes were last edited, and whether they had such edits.
LAST_USER_KEY = "whatif_last_user"


def reset_edits() -> None:
    """Forget every edit and result of the page in this session (an on_click callback)."""
    for key in list(st.session_state):
        if key.startswith(EDIT_PREFIX) or key in RESULT_KEYS or key == LAST_USER_KEY:
            del st.session_state[key]


def history_edits(recommender, user_id: str) -> tuple[list[str], dict[str, float | None], dict[str, float]]:
    """Draw the history edit widgets; return the removed IDs, the added {ID: rating} and changed {ID: rating}."""
    history = recommender.history(user_id)
    ids = history[ITEM_ID].astype(str)
    titles = dict(zip(ids, history[TITLE].astype(str) if TITLE in history else ids))
    removed = st.multiselect(t("whatif.remove_label"), list(titles), key=f"{EDIT_PREFIX}remove_{user_id}",
                             help=t("whatif.remove_help"), placeholder=t("whatif.remove_placeholder"),
                             format_func=lambda item: f"{item} · {titles.get(item, '')}")
    added_text = st.text_input(t("whatif.add_label"), key=f"{EDIT_PREFIX}add_{user_id}", help=t("whatif.add_help"))
    # A bad entry is raised only after every widget is drawn, because Streamlit deletes the
    # state of a widget that a run skips, which would drop the other edits.
    problem = None
    try:
        added = _parse_added(added_text)
        check_added(recommender, added, set(titles))
    except ValueError as error:
        added, problem = {}, error

    changed: dict[str, float] = {}
    bounds = rating_range(recommender.dataset)
    if bounds is not None and not history.empty:
        st.caption(t("whatif.ratings_caption", low=bounds[0], high=bounds[1]))
        table = history[[column for column in (ITEM_ID, TITLE, RATING, "date") if column in history]].copy()
        table[ITEM_ID] = table[ITEM_ID].astype(str)
        edited = st.data_editor(
            table, hide_index=True, key=f"{EDIT_PREFIX}ratings_{user_id}", height=full_height(min(len(table), 8)),
            disabled=[ITEM_ID, TITLE, "date"],
            column_config={
                ITEM_ID: st.column_config.TextColumn(attribute_label(ITEM_ID)),
                TITLE: st.column_config.TextColumn(attribute_label(TITLE)),
                RATING: st.column_config.NumberColumn(attribute_label(RATING), min_value=bounds[0],
                                                      max_value=bounds[1], step=1.0),
                "date": st.column_config.DateColumn(attribute_label("date")),
            },
        )
        for item, before, after in zip(table[ITEM_ID], table[RATING], edited[RATING]):
            if item not in removed and _differs(before, after):
                if pd.isna(after):
                    problem = problem or ValueError(t("whatif.rating_empty", item_id=item, low=bounds[0],
                                                      high=bounds[1]))
                    continue
                changed[item] = after
    if problem is not None:
        raise problem
    return list(removed), added, changed


def attribute_edits(recommender, user_id: str) -> dict[str, object]:
    """Draw one field per user attribute; return the attributes that differ from the user's own."""
    spec = recommender.dataset.user_features
    encoding = TabularEncoding.from_dict(recommender.meta["user_encoding"])
    current = recommender.user_attributes(user_id)
    columns = [*spec.categorical, *spec.numeric]
    if not columns:
        return {}
    changed = {}
    for cell, column in zip(st.columns(len(columns)), columns):
        key = f"{EDIT_PREFIX}attr_{column}_{user_id}"
        if column in spec.categorical:
            options = [value for value in encoding.categorical.get(column, []) if value != UNKNOWN]
            own = str(current.get(column))
            # A missing value shows as an empty field and counts as an edit only once it is chosen.
            value = cell.selectbox(attribute_label(column), options, key=key, placeholder=t("whatif.attr_placeholder"),
                                   index=options.index(own) if own in options else None)
            if value is not None and value != own:
                changed[column] = value
        else:
            own = current.get(column)
            own = float(own) if own is not None and math.isfinite(float(own)) else None
            bounds = numeric_range(recommender.dataset.users, column) or (None, None)
            value = cell.number_input(attribute_label(column), key=key, min_value=bounds[0], max_value=bounds[1],
                                      value=own, step=1.0,
                                      help=t("whatif.attr_range_help", low=bounds[0], high=bounds[1])
                                      if bounds[0] is not None else None)
            # A missing value shows as an empty field and counts as an edit only once it is filled in.
            if value is not None and (own is None or not math.isclose(value, own)):
                changed[column] = value
    return changed


def text_edit(recommender) -> dict[str, str]:
    """Draw the item text editor; return {item ID: new text} when the text differs from the item's own."""
    item_id = st.text_input(t("whatif.text_item_label"), key=f"{EDIT_PREFIX}text_item").strip()
    if not item_id:
        return {}
    check_item(recommender, item_id)
    index = recommender.dataset.item_position(item_id)
    own = item_texts(recommender.dataset)[index]
    limit = recommender.config.text.max_length
    text = st.text_area(t("whatif.text_label", limit=limit), value=own, key=f"{EDIT_PREFIX}text_{item_id}")
    return {item_id: text} if text != own else {}


def note_dropped_edits(user_id: str, edits: Edits) -> None:
    """Say so when switching users dropped the previous user's history and attribute edits.

    Streamlit deletes the state of a widget that a run does not draw, and the edit widgets
    of a user are drawn only while that user is chosen.
    """
    previous, had_edits = st.session_state.get(LAST_USER_KEY, (user_id, False))
    if previous != user_id and had_edits:
        st.info(t("whatif.edits_dropped", user_id=previous), icon=":material/person_remove:")
    st.session_state[LAST_USER_KEY] = (user_id, bool(edits.edits_history or edits.user_attributes))


def show_notes(notes: list[dict]) -> None:
    for note in notes:
        code = note["code"]
        if code == "cold_start":
            st.info(t("whatif.cold_start"), icon=":material/ac_unit:")
        elif code == "text_truncated":
            st.warning(t("whatif.text_truncated", item_id=note["item_id"], tokens=note["tokens"], limit=note["limit"],
                         kept=note["kept"]), icon=":material/content_cut:")
        elif code == "text_unknown":
            st.warning(t("whatif.text_unknown", item_id=note["item_id"], unknown=note["unknown"], tokens=note["tokens"]),
                       icon=":material/translate:")
        elif code == "short_list":
            st.warning(t("whatif.short_list", count=note["count"], k=note["k"]), icon=":material/playlist_remove:")
        elif code == "text_empty":
            st.info(t("whatif.text_empty", item_id=note["item_id"]), icon=":material/info:")


def before_table(result) -> pd.DataFrame:
    table = result.before.rename(columns={"rank_before": "rank", "score_before": "score"})
    table["rank"] = table["rank"].astype(int)
    return table[["rank", TITLE, "score"]]


def after_table(result) -> pd.DataFrame:
    """Build the after list with an arrow per row: ▲/▼ and the number of places moved, or "new"."""
    table = result.after.rename(columns={"rank_after": "rank", "score_after": "score"})
    table["rank"] = table["rank"].astype(int)
    table["movement"] = [_movement(change) for change in table["rank_change"]]
    return table[["rank", "movement", TITLE, "score", "score_change"]]


def count_moved(result) -> int:
    """Items of the after list that changed rank or were not recommendable before."""
    changes = result.after["rank_change"]
    return int((changes.isna() | (changes != 0)).sum())


def edits_from(removed, added, changed, attributes, texts) -> Edits:
    return Edits(remove=tuple(removed), add=added, ratings=changed, user_attributes=attributes, item_texts=texts)


def table_config() -> dict:
    return {
        "rank": st.column_config.NumberColumn(attribute_label("rank"), width=56),
        "movement": st.column_config.TextColumn(t("whatif.column.movement"), width=70),
        TITLE: st.column_config.TextColumn(attribute_label(TITLE)),
        "score": st.column_config.NumberColumn(attribute_label("score"), format="%.3f"),
        "score_change": st.column_config.NumberColumn(t("whatif.column.score_change"), format="%+.3f"),
    }


def show_counterfactual(result: dict) -> None:
    """Draw one counterfactual (Counterfactual.to_dict()) with its verification."""
    item = f"“{result['item_title']}” ({result['item_id']})"
    verification = result["verification"]
    if not result["found"] and result["kind"] != "text":
        if result["bound_reached"]:
            bound = t(f"whatif.bound.{result['bound_reached']}", **result["bounds"])
            st.warning(t("whatif.cf_not_found", bound=bound, rescores=result["rescores"]), icon=":material/block:")
        else:
            st.warning(t("whatif.cf_exhausted", rescores=result["rescores"]), icon=":material/block:")
        return

    versus = f"“{result['versus_title']}” ({result['versus_item_id']})" if result.get("versus_item_id") else None
    values = dict(size=result["size"], item=item, before=result["rank_before"], after=result["rank_after"],
                  k=result["k"], versus=versus, versus_after=result.get("versus_rank_after"))
    if result["found"]:
        st.success(t(f"whatif.cf_found.{result['kind']}", **values), icon=":material/check_circle:")
    else:
        st.info(t("whatif.cf_text_partial", **values), icon=":material/info:")
    members = pd.DataFrame(result["members"])
    st.dataframe(members, hide_index=True, key=f"whatif_members_{result['kind']}", column_config={
        "word": st.column_config.TextColumn(t("whatif.column.member")),
        "attribution": st.column_config.NumberColumn(t("whatif.column.attribution"), format="%+.4f"),
        "item_id": st.column_config.TextColumn(attribute_label(ITEM_ID)),
        "title": st.column_config.TextColumn(attribute_label(TITLE)),
    })

    if verification["verified"] or not verification["holds"]:
        key = "whatif.verified" if verification["holds"] else "whatif.not_verified"
        st.markdown(f"- {t(key, before=verification['rank_before'], after=verification['rank_after'])}")
    if result["found"]:
        key = "whatif.minimal" if verification["minimal"] else "whatif.not_minimal"
        st.markdown(f"- {t(key, size=result['size'])}")
        checks = pd.DataFrame(verification["without_each_member"])
        st.dataframe(checks, hide_index=True, key=f"whatif_checks_{result['kind']}", column_config={
            "member": st.column_config.TextColumn(t("whatif.column.member")),
            "rank_after": st.column_config.NumberColumn(t("whatif.column.rank_without")),
            "still_holds": st.column_config.CheckboxColumn(t("whatif.column.still_holds")),
        })
    if result["found"] and result["bound_reached"]:
        bound = t(f"whatif.bound.{result['bound_reached']}", **result["bounds"])
        st.caption(t("whatif.cf_bound_note", bound=bound))


def _movement(change) -> str:
    if change is None or isinstance(change, float) and math.isnan(change):
        return t("whatif.new_entry")
    if change > 0:
        return f"▲ {int(change)}"
    if change < 0:
        return f"▼ {int(-change)}"
    return "—"


def _differs(before, after) -> bool:
    if pd.isna(before) and pd.isna(after):
        return False
    return pd.isna(before) or pd.isna(after) or not math.isclose(float(before), float(after))


def check_user(recommender, user_id: str) -> None:
    """Raise ValueError with a translated message when `user_id` is not in the dataset."""
    if user_id not in recommender.dataset.user_index:
        examples = ", ".join(recommender.user_ids()[:5])
        raise ValueError(t("rec.unknown_user", user_id=_cut(user_id), count=recommender.dataset.n_users,
                           dataset=recommender.dataset.name, examples=examples))


def check_item(recommender, item_id: str) -> None:
    """Raise ValueError with a translated message when `item_id` is not in the catalogue."""
    if item_id not in recommender.dataset.item_index:
        examples = ", ".join(map(str, recommender.dataset.item_ids[:5]))
        raise ValueError(t("whatif.unknown_item", item_id=_cut(item_id), count=recommender.dataset.n_items,
                           examples=examples))


def check_added(recommender, added: dict[str, float | None], history: set[str]) -> None:
    """Check the items to add against the catalogue, the user's history and the rating range, with translated messages."""
    bounds = rating_range(recommender.dataset)
    for item_id, rating in added.items():
        check_item(recommender, item_id)
        if item_id in history:
            raise ValueError(t("whatif.add_in_history", item_id=item_id))
        if rating is not None and bounds is not None and not bounds[0] <= rating <= bounds[1]:
            raise ValueError(t("whatif.add_rating_range", item_id=item_id, rating=rating, low=bounds[0],
                               high=bounds[1]))


def _cut(text: str, limit: int = 40) -> str:
    """Cut a pasted ID to `limit` characters for a message, so it cannot flood the page."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def _parse_added(text: str) -> dict[str, float | None]:
    added: dict[str, float | None] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        item, _, rating = (part.strip() for part in entry.partition(":"))
        try:
            value = float(rating) if rating else None
        except ValueError:
            value = math.nan
        if not item or "_" in rating or value is not None and not math.isfinite(value):
            raise ValueError(t("whatif.add_invalid", entry=entry))
        if item in added:
            raise ValueError(t("whatif.add_twice", item_id=item))
        added[item] = value
    return added
