"""`gradwise.graph`: see the computational graph autograd recorded.

    from gradwise.graph import to_dot, render
    loss = model(x).sum()
    print(to_dot(loss, params=dict(model.named_parameters())))   # Graphviz DOT text
    render(loss, "graph.png", params=dict(model.named_parameters()))  # needs Graphviz's `dot`
"""
from gradwise.graph.dot import GraphvizNotFoundError, count_nodes, dot_executable, render, to_dot

__all__ = ["to_dot", "render", "dot_executable", "GraphvizNotFoundError", "count_nodes"]
