"""CLI commands for feedback labels, retraining and model versions.

    genre feedback add --user U --item I --label irrelevant --analyst NAME [--reason TEXT]
    genre feedback list | export --out FILE | undo LABEL_ID
    genre retrain
    genre models list | promote VERSION | rollback
"""

from __future__ import annotations

from typing import Any

from genre_core.config import load_config


def add_commands(commands, common) -> None:
    feedback = commands.add_parser("feedback", parents=[common], help="add, list, undo and export analysts' labels")
    actions = feedback.add_subparsers(dest="feedback_action", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="label one recommended item for one user")
    add.add_argument("--user", required=True, help="user ID")
    add.add_argument("--item", required=True, help="item ID")
    add.add_argument("--label", required=True, choices=["relevant", "irrelevant", "rating"], help="the label")
    add.add_argument("--rating", type=float, help="rating value, only with --label rating (range: feedback.rating_min to rating_max)")
    add.add_argument("--analyst", required=True, help="name of the person who labels")
    add.add_argument("--reason", help="why the item is (ir)relevant")
    add.add_argument("--rank", type=int, help="rank at which the item was shown (1 is the top)")
    add.add_argument("--model-version", help="model version that showed the item (default: the active one)")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", parents=[common], help="list labels, oldest first")
    listing.add_argument("--user", help="only this user's labels")
    listing.add_argument("--active-only", action="store_true", help="leave out undone labels")
    listing.set_defaults(handler=_list)

    export = actions.add_parser("export", parents=[common], help="write all labels to a CSV file")
    export.add_argument("--out", required=True, help="CSV file to write")
    export.set_defaults(handler=_export)

    undo = actions.add_parser("undo", parents=[common], help="undo one label by its id")
    undo.add_argument("label_id", type=int, help="label id, as `feedback list` shows it")
    undo.set_defaults(handler=_undo)

    retrain = commands.add_parser("retrain", parents=[common], help="fine-tune the active model on the labels; promote it if the guard passes")
    retrain.set_defaults(handler=_retrain)

    models = commands.add_parser("models", parents=[common], help="list, promote and roll back model versions")
    model_actions = models.add_subparsers(dest="models_action", required=True, metavar="ACTION")
    model_actions.add_parser("list", parents=[common], help="list the registered versions").set_defaults(handler=_models_list)
    promote = model_actions.add_parser("promote", parents=[common], help="make a version the active one")
    promote.add_argument("version", help="version name such as v0002")
    promote.set_defaults(handler=_promote)
    model_actions.add_parser("rollback", parents=[common], help="make the previously active version active again").set_defaults(handler=_rollback)


def _store(args, with_dataset: bool = False):
    from genre_core.feedback.store import FeedbackStore

    config = load_config(args.config)
    dataset = None
    if with_dataset:
        from genre_core.pipeline import load_prepared

        dataset = load_prepared(config, progress=not args.quiet)
    return config, FeedbackStore.open(config, dataset)


def _add(args) -> dict[str, Any]:
    from genre_core.registry import ModelRegistry

    config, store = _store(args, with_dataset=True)
    version = args.model_version or ModelRegistry.for_config(config).active_version()
    label_id = store.add(args.user, args.item, args.label, args.analyst, reason=args.reason, rating=args.rating,
                         model_version=version, rank=args.rank)
    return {"saved": True, "id": label_id, "user_id": args.user, "item_id": args.item, "label": args.label}


def _list(args) -> dict[str, Any]:
    _, store = _store(args)
    frame = store.frame(include_undone=not args.active_only, user_id=args.user)
    frame["created_at"] = frame["created_at"].astype(str)
    frame["undone_at"] = frame["undone_at"].astype(str).replace({"None": None, "NaT": None})
    return {"count": len(frame), "labels": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}


def _export(args) -> dict[str, Any]:
    _, store = _store(args)
    return {"rows": store.export_csv(args.out), "file": args.out}


def _undo(args) -> dict[str, Any]:
    _, store = _store(args)
    store.undo(args.label_id)
    return {"undone": args.label_id}


def _retrain(args) -> dict[str, Any]:
    from genre_core.feedback.runner import run_retraining

    job_id, result = run_retraining(load_config(args.config))
    if result is None:
        return {"job": job_id, "state": "cancelled"}
    return {"job": job_id, "state": "succeeded", **result.to_dict()}


def _models_list(args) -> dict[str, Any]:
    from genre_core.registry import ModelRegistry

    registry = ModelRegistry.for_config(load_config(args.config))
    versions = []
    for info in registry.versions():
        status = "candidate" if info.meta.get("status") == "candidate" else "inactive"
        versions.append({
            "version": info.version, "active": info.active, "created_at": info.created_at,
            "source": info.meta.get("source"), "status": "active" if info.active else status,
            "valid_ndcg@10": info.meta.get("metrics", {}).get("valid", {}).get("ndcg@10"),
            "guard": info.meta.get("guard"),
        })
    return {"active": registry.active_version(), "versions": versions}


def _promote(args) -> dict[str, Any]:
    from genre_core.registry import ModelRegistry

    registry = ModelRegistry.for_config(load_config(args.config))
    registry.promote(args.version)
    return {"active": registry.active_version()}


def _rollback(args) -> dict[str, Any]:
    from genre_core.registry import ModelRegistry

    registry = ModelRegistry.for_config(load_config(args.config))
    return {"active": registry.rollback()}
