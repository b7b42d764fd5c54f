"""`gradwise.graph`: DOT text of the recorded graph, and rendering with Graphviz."""
from __future__ import annotations

import re
import shutil

import pytest

import gradwise as gw
from gradwise.graph import GraphvizNotFoundError, count_nodes, render, to_dot


def mlp():
    gw.manual_seed(0)
    x = gw.randn(4, 8)
    W1 = gw.randn(8, 16, requires_grad=True)
    b1 = gw.zeros(16, requires_grad=True)
    W2 = gw.randn(16, 3, requires_grad=True)
    b2 = gw.zeros(3, requires_grad=True)
    out = (x @ W1 + b1).relu() @ W2 + b2
    loss = out.sum()
    params = {"fc1.weight": W1, "fc1.bias": b1, "fc2.weight": W2, "fc2.bias": b2}
    return loss, params


def node_lines(dot: str) -> list[str]:
    return [line for line in dot.splitlines() if re.match(r"\s*n\d+ \[label=", line)]


def edge_pairs(dot: str) -> list[tuple[str, str]]:
    return re.findall(r"(n\d+) -> (n\d+)", dot)


def label_of(dot: str, text: str) -> str:
    """The node id whose label starts with `text`."""
    for line in node_lines(dot):
        if f'label="{text}' in line:
            return line.split()[0]
    raise AssertionError(f"no node labelled {text!r} in\n{dot}")


def test_mlp_dot_nodes_labels_shapes():
    loss, params = mlp()
    dot = to_dot(loss, params)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    # 4 parameters + matmul, add, relu, matmul, add, sum = 10 nodes; a tree, so 9 edges
    assert count_nodes(dot) == len(node_lines(dot)) == 10
    assert len(edge_pairs(dot)) == 9
    for name, shape in [("fc1.weight", "(8, 16)"), ("fc1.bias", "(16,)"), ("fc2.weight", "(16, 3)"),
                        ("fc2.bias", "(3,)")]:
        assert f'label="{name}\\n{shape}"' in dot
    for op, shape in [("MatmulBackward", "(4, 16)"), ("ReluBackward", "(4, 16)"), ("AddBackward", "(4, 3)"),
                      ("MatmulBackward", "(4, 3)"), ("SumBackward", "()")]:
        assert f'label="{op}\\n{shape}"' in dot


def test_edges_point_forward_and_root_is_highlighted():
    loss, params = mlp()
    dot = to_dot(loss, params)
    root = label_of(dot, "SumBackward")
    relu = label_of(dot, "ReluBackward")
    w1 = label_of(dot, "fc1.weight")
    pairs = edge_pairs(dot)
    assert all(src != root for src, _ in pairs)  # nothing leaves the root: it is the output
    assert any(dst == root for _, dst in pairs)
    assert all(dst != w1 for _, dst in pairs)    # leaves only have outgoing edges
    assert any(src == relu for src, _ in pairs) and any(dst == relu for _, dst in pairs)
    root_lines = [line for line in node_lines(dot) if "peripheries=2" in line]
    assert len(root_lines) == 1 and root_lines[0].startswith(f"  {root} ")


def test_leaves_without_params_and_unnamed_inputs():
    x = gw.ones(2, 3, requires_grad=True)
    w = gw.ones(3, requires_grad=True)
    y = (x * w).sum()
    dot = to_dot(y)
    assert dot.count('label="leaf\\n') == 2
    dot = to_dot(y, {"w": w})
    assert 'label="w\\n(3,)"' in dot and 'label="input\\n(2, 3)"' in dot


def test_shared_subexpression_drawn_once():
    x = gw.ones(3, requires_grad=True)
    h = x.exp()
    y = (h * h + h).sum()
    dot = to_dot(y)
    assert sum('"ExpBackward' in line for line in node_lines(dot)) == 1
    assert sum('"leaf' in line for line in node_lines(dot)) == 1
    exp = label_of(dot, "ExpBackward")
    assert sum(src == exp for src, _ in edge_pairs(dot)) == 3  # h feeds mul twice and add once


def test_multi_output_node_and_several_roots():
    x = gw.ones(4, 2, requires_grad=True)
    a, b = x.split(2)
    dot = to_dot([a.sum(), (b * 2).sum()])
    assert sum('"SplitBackward' in line for line in node_lines(dot)) == 1
    assert 'SplitBackward\\n(2, 2) (2, 2)' in dot
    assert sum("peripheries=2" in line for line in node_lines(dot)) == 2


def test_leaf_root_and_type_error():
    x = gw.ones(2, requires_grad=True)
    dot = to_dot(x, {"x": x})
    assert count_nodes(dot) == 1 and "peripheries=2" in dot and 'label="x\\n(2,)"' in dot
    with pytest.raises(TypeError):
        to_dot([1, 2])


def test_labels_are_escaped():
    x = gw.ones(2, requires_grad=True)
    dot = to_dot((x * 2).sum(), {'we"ird\\name': x})
    assert 'label="we\\"ird\\\\name\\n(2,)"' in dot


def test_deep_graph_is_walked_iteratively():
    x = gw.ones(2, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + 1
    dot = to_dot(y.sum())
    assert count_nodes(dot) == 20_002  # leaf + 20,000 adds + sum


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("suffix,magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_render_writes_file(tmp_path, suffix, magic):
    loss, params = mlp()
    path = render(loss, tmp_path / f"graph.{suffix}", params=params)
    data = (tmp_path / f"graph.{suffix}").read_bytes()
    assert path.endswith(suffix) and magic in data[:400]
    if suffix == "svg":
        assert b"fc1.weight" in data and b"ReluBackward" in data


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_render_explicit_format(tmp_path):
    loss, _ = mlp()
    render(loss, tmp_path / "graph.out", format="svg")
    assert b"<svg" in (tmp_path / "graph.out").read_bytes()[:300]


def test_render_dot_text_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    loss, _ = mlp()
    render(loss, tmp_path / "graph.dot")
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")


def test_render_without_graphviz_explains_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on PATH
    loss, _ = mlp()
    with pytest.raises(GraphvizNotFoundError) as info:
        render(loss, tmp_path / "graph.png")
    message = str(info.value)
    assert "apt-get install graphviz" in message and "pip install graphviz" in message
    assert isinstance(info.value, RuntimeError)
    assert not (tmp_path / "graph.png").exists()
