"""Causal graphs as edge lists: parse the DOT text analysts edit, check it, and write it back."""

from __future__ import annotations

import re

import networkx as nx

from genre_core.causal.errors import CausalInputError

_EDGE = re.compile(r'"?([A-Za-z_][\w]*)"?\s*->\s*"?([A-Za-z_][\w]*)"?')
_NODE = re.compile(r'^"?([A-Za-z_][\w]*)"?$')


def default_graph(treatment: str, outcome: str, confounders: list[str]) -> nx.DiGraph:
    """Each confounder causes both the treatment and the outcome; the treatment causes the outcome."""
    graph = nx.DiGraph()
    graph.add_nodes_from([treatment, outcome, *confounders])
    for confounder in confounders:
        graph.add_edge(confounder, treatment)
        graph.add_edge(confounder, outcome)
    graph.add_edge(treatment, outcome)
    return graph


def to_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph {"]
    lines += [f"  {node};" for node in graph.nodes if graph.degree(node) == 0]
    lines += [f"  {source} -> {target};" for source, target in graph.edges]
    lines.append("}")
    return "\n".join(lines)


def parse_dot(text: str) -> nx.DiGraph:
    """Parse `digraph { a -> b; c; }` (or bare `a -> b` lines), one edge or node per statement.

    Chains such as `a -> b -> c` are read as two edges.
    """
    body = text.strip()
    match = re.match(r"^(?:strict\s+)?digraph\s*\w*\s*\{(.*)\}\s*$", body, re.S)
    if match:
        body = match.group(1)
    elif "{" in body or "}" in body:
        raise CausalInputError("the causal graph is not valid DOT; write it as `digraph { cause -> effect; }`")

    graph = nx.DiGraph()
    for statement in re.split(r"[;\n]", body):
        statement = statement.split("//")[0].strip()
        if not statement:
            continue
        parts = [part.strip() for part in statement.split("->")]
        names = [_NODE.match(part) for part in parts]
        if not all(names):
            raise CausalInputError(
                f"cannot read the graph statement {statement!r}; use column names joined by '->', such as `popular -> high_rating`"
            )
        nodes = [name.group(1) for name in names]
        graph.add_nodes_from(nodes)
        graph.add_edges_from(zip(nodes[:-1], nodes[1:]))
    return graph


def check_graph(graph: nx.DiGraph, treatment: str, outcome: str, columns) -> None:
    """Raise CausalInputError when the graph has a cycle, lacks the treatment or outcome, or names unknown columns."""
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " -> ".join(source for source, _ in nx.find_cycle(graph))
        raise CausalInputError(f"the causal graph has a cycle ({cycle}); remove one of its edges so that the graph is acyclic")
    for role, node in (("treatment", treatment), ("outcome", outcome)):
        if node not in graph:
            raise CausalInputError(f"the causal graph has no node for the {role} {node!r}; add it with its edges")
    if not nx.has_path(graph, treatment, outcome):
        raise CausalInputError(f"the causal graph has no path from {treatment!r} to {outcome!r}; add the edge `{treatment} -> {outcome}`")
    missing = sorted(set(graph.nodes) - set(columns))
    if missing:
        raise CausalInputError(
            f"graph nodes {missing} are not columns of the analysis table; rename or remove them "
            f"(columns: {', '.join(sorted(columns))})"
        )
