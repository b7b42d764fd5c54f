"""Draw the recorded graph: Graphviz DOT text of what `backward()` will walk, and its rendering.

The graph is read off the nodes autograd recorded (`tensor.grad_fn` and each node's `edges`),
so it shows exactly what the forward pass built: leaves (parameters by name when `params` is
given, other leaves as "input"/"leaf") with their shapes, one box per operation with the shape
it produced, and arrows in the forward direction, from inputs to the loss, whose node is
highlighted. The walk is iterative, so graphs of any depth are drawn without recursion.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Iterable, Mapping

LEAF_STYLE = 'shape=ellipse, style=filled, fillcolor="#cfe8ff"'
PARAM_STYLE = 'shape=ellipse, style=filled, fillcolor="#d5f5d5"'
OP_STYLE = 'shape=box, style="rounded,filled", fillcolor="#f2f2f2"'
ROOT_OP_STYLE = 'shape=box, style="rounded,filled,bold", fillcolor="#ffb3a7", penwidth=2.5, peripheries=2'
ROOT_LEAF_STYLE = 'shape=ellipse, style="filled,bold", fillcolor="#ffb3a7", penwidth=2.5, peripheries=2'

INSTALL_HINT = ("Graphviz's `dot` program is needed to render the graph and was not found on PATH. "
                "Install it with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS) or `conda install graphviz`; `pip install graphviz` adds the optional Python "
                "bindings but not the program itself. `gradwise.graph.to_dot(...)` works without it "
                "and returns the DOT text (paste it into any Graphviz viewer).")


class GraphvizNotFoundError(RuntimeError):
    """Raised by `render` when the Graphviz `dot` executable is missing."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(shape) -> str:
    return str(tuple(int(n) for n in shape))  # as Python prints a shape: (3,), (4, 16), ()


def _roots(root) -> list:
    if isinstance(root, (list, tuple)):
        return list(root)
    return [root]


def to_dot(root, params: Mapping[str, object] | None = None, *, graph_name: str = "autograd") -> str:
    """Graphviz DOT text of the graph that produced `root` (a Tensor, or a list of Tensors).

    `params` maps names to tensors (e.g. ``dict(model.named_parameters())``) to label leaves.
    """
    from gradwise.tensor.tensor import Tensor

    names = {id(t): name for name, t in (params or {}).items()}
    unnamed = "input" if params else "leaf"
    ids: dict[int, str] = {}
    keep: list = []  # the objects behind ids, alive for the whole walk
    lines: list[str] = []
    edges: list[str] = []
    out_shapes: dict[int, dict[int, tuple]] = {}  # node -> output nr -> shape

    def ident(obj) -> tuple[str, bool]:
        key = id(obj)
        if key in ids:
            return ids[key], False
        ids[key] = f"n{len(ids)}"
        keep.append(obj)
        return ids[key], True

    def leaf_line(t, node_id: str, is_root: bool) -> str:
        name = names.get(id(t))
        label = f"{name if name is not None else unnamed}\n{_shape(t.shape)}"
        style = ROOT_LEAF_STYLE if is_root else PARAM_STYLE if name is not None else LEAF_STYLE
        return f"  {node_id} [label={_quote(label)}, {style}];"

    roots = _roots(root)
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"to_dot expects a Tensor (or a list of Tensors), got {type(r).__name__}")
    root_nodes = {id(r.grad_fn) for r in roots if r.grad_fn is not None}
    stack = []
    for r in roots:
        if r.grad_fn is None:
            node_id, new = ident(r)
            if new:
                lines.append(leaf_line(r, node_id, True))
            continue
        out_shapes.setdefault(id(r.grad_fn), {})[r._output_nr] = tuple(r.shape)
        node_id, new = ident(r.grad_fn)
        if new:
            stack.append(r.grad_fn)

    visited_nodes = []
    while stack:
        node = stack.pop()
        visited_nodes.append(node)
        node_id = ids[id(node)]
        edge_list = getattr(node, "edges", None) or ()
        metas = getattr(node, "input_meta", None) or [None] * len(edge_list)
        for edge, meta in zip(edge_list, metas):
            if edge is None:
                continue
            shape = meta[0] if meta is not None else None
            if isinstance(edge, tuple):
                child, nr = edge
                child_id, new = ident(child)
                if shape is not None:
                    out_shapes.setdefault(id(child), {})[nr] = tuple(shape)
                if new:
                    stack.append(child)
            else:
                child_id, new = ident(edge)
                if new:
                    lines.append(leaf_line(edge, child_id, False))
                shape = tuple(edge.shape)
            label = f" [label={_quote(_shape(shape))}]" if shape is not None else ""
            edges.append(f"  {child_id} -> {node_id}{label};")

    for node in visited_nodes:
        shapes = out_shapes.get(id(node), {})
        meta = getattr(node, "out_meta", None)
        if meta:  # several outputs (split, max along a dim...): all their shapes
            shapes = {i: tuple(s) for i, (s, _) in enumerate(meta)}
        shown = " ".join(_shape(shapes[i]) for i in sorted(shapes))
        label = node.name() + (f"\n{shown}" if shown else "")
        style = ROOT_OP_STYLE if id(node) in root_nodes else OP_STYLE
        lines.append(f"  {ids[id(node)]} [label={_quote(label)}, {style}];")

    header = [f"digraph {graph_name} {{", "  rankdir=TB;",
              '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];']
    return "\n".join(header + lines + edges + ["}"]) + "\n"


def dot_executable() -> str | None:
    """The path of Graphviz's `dot` program, or None when it is not installed."""
    return shutil.which("dot")


def render(root, path: str | os.PathLike = "graph.svg", params: Mapping[str, object] | None = None,
           format: str | None = None) -> str:
    """Write the graph of `root` to `path` with Graphviz (format from `format` or the suffix).

    Raises `GraphvizNotFoundError` (a RuntimeError) with install instructions when the `dot`
    program is missing.
    """
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".") or "svg").lower()
    source = to_dot(root, params)
    if fmt == "dot" or fmt == "gv":
        with open(path, "w") as handle:
            handle.write(source)
        return path
    executable = dot_executable()
    if executable is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    data = _run_graphviz(source, fmt, executable)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _run_graphviz(source: str, fmt: str, executable: str) -> bytes:
    try:
        import graphviz  # the optional Python bindings, when installed
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(source).pipe(format=fmt)
        except graphviz.ExecutableNotFound as exc:
            raise GraphvizNotFoundError(INSTALL_HINT) from exc
    try:
        done = subprocess.run([executable, f"-T{fmt}"], input=source.encode(), capture_output=True,
                              check=False, timeout=120)
    except FileNotFoundError as exc:
        raise GraphvizNotFoundError(INSTALL_HINT) from exc
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz `dot -T{fmt}` failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def count_nodes(dot_source: str) -> int:
    """How many nodes a DOT text from `to_dot` declares (handy in tests and notebooks)."""
    return sum(1 for line in dot_source.splitlines() if line.strip().startswith("n") and "[label=" in line
               and "->" not in line)


__all__: Iterable[str] = ["to_dot", "render", "dot_executable", "GraphvizNotFoundError", "count_nodes"]
