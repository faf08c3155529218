"""The error type of causal questions the analyst has to change before they can be answered."""


class CausalInputError(ValueError):
    """A causal question, graph or table that cannot be analysed as given; the message says what to change."""
