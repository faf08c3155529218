"""What-if re-scoring under edits of a user's history, attributes or an item, and verified counterfactuals."""

from genre_core.whatif.counterfactual import (
    SearchBounds, bring_into_top_k, history_counterfactual, text_counterfactual, versus_counterfactual,
)
from genre_core.whatif.edits import Edits, WhatIfError
from genre_core.whatif.engine import AppliedEdits, WhatIfResult, apply_edits, explain_under_edits, rescore

__all__ = [
    "AppliedEdits", "Edits", "SearchBounds", "WhatIfError", "WhatIfResult", "apply_edits",
    "bring_into_top_k", "explain_under_edits", "history_counterfactual", "rescore", "text_counterfactual",
    "versus_counterfactual",
]
