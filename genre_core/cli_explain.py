"""`genre explain`: attribute one recommendation to modalities, past items and words."""

from __future__ import annotations

from typing import Any

from genre_core.explain.settings import STEP_LADDER


def add_commands(commands, common) -> None:
    parser = commands.add_parser("explain", parents=[common], help="explain one recommended item for one user")
    parser.add_argument("--user", required=True, help="user ID")
    parser.add_argument("--item", required=True, help="item ID to explain (item A)")
    parser.add_argument("--versus", help="item B: explain the rank margin score(A) - score(B)")
    parser.add_argument("--margin", action="store_true",
                        help="explain the margin over the item ranked right below A (when --versus is not given)")
    parser.add_argument("--method", default="integrated_gradients",
                        help="method of the modality shares: integrated_gradients, shapley or feature_ablation")
    parser.add_argument("--baseline", default="mean", help="baseline: mean (catalogue averages) or zero")
    parser.add_argument("--n-steps", type=int, default=STEP_LADDER[0],
                        help=f"first Integrated Gradients step count, one of {', '.join(map(str, STEP_LADDER))}")
    parser.add_argument("--shapley-samples", type=int, default=25, help="permutations for Shapley value sampling")
    parser.add_argument("--internal-batch-size", type=int, default=64, help="rows per IG forward pass (bounds memory)")
    parser.add_argument("--no-tokens", action="store_true", help="skip the word attributions of the item's text")
    parser.add_argument("--shap", action="store_true", help="add SHAP values of the user's and item's tabular features")
    parser.add_argument("--version", help="model version (default: the active one)")
    parser.set_defaults(handler=run_explain)


def run_explain(args) -> dict[str, Any]:
    from genre_core.config import load_config
    from genre_core.explain import ExplainSettings, explain
    from genre_core.service import Recommender

    settings = ExplainSettings(
        method=args.method, baseline=args.baseline, n_steps=args.n_steps, shapley_samples=args.shapley_samples,
        internal_batch_size=args.internal_batch_size, tokens=not args.no_tokens, shap=args.shap,
    )
    recommender = Recommender.load(load_config(args.config), version=args.version, device="cpu")
    target = "margin" if args.margin or args.versus else "score"
    return explain(recommender, args.user, args.item, versus=args.versus, target=target, settings=settings)
