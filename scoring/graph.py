"""Strongly connected components of a small directed graph, in plain Python.

The comparison graph of a leaderboard has one node per model (tens to a few hundred) and at
most one edge per ordered pair, so Tarjan's algorithm here takes milliseconds, where importing
``scipy.sparse.csgraph`` for it would take a quarter of a second.
"""

from __future__ import annotations

import numpy as np


def strong_components(n_nodes: int, src, dst) -> np.ndarray:
    """int (n_nodes,): a component label per node; nodes share a label iff each reaches the other.

    ``src``/``dst``: the edges src[e] -> dst[e] (duplicates allowed). Iterative Tarjan, so a
    long chain cannot exhaust the recursion limit."""
    succ: list[list[int]] = [[] for _ in range(n_nodes)]
    for s, d in zip(np.asarray(src).tolist(), np.asarray(dst).tolist()):
        succ[s].append(d)
    index = [-1] * n_nodes
    low = [0] * n_nodes
    on_stack = [False] * n_nodes
    labels = np.full(n_nodes, -1, dtype=np.int64)
    stack: list[int] = []
    counter = n_labels = 0
    for root in range(n_nodes):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work[-1]
            if edge == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            if edge < len(succ[node]):
                work[-1] = (node, edge + 1)
                nxt = succ[node][edge]
                if index[nxt] < 0:
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    labels[member] = n_labels
                    if member == node:
                        break
                n_labels += 1
    return labels
