"""AST to canonical text: parsing the rendering gives back an equal tree."""

from __future__ import annotations

from transforms.expressions import nodes as n

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def render_string(value: str) -> str:
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def render(node: n.Node) -> str:
    if isinstance(node, n.String):
        return render_string(node.value)
    if isinstance(node, n.Number):
        if node.hex and node.value >= 0:
            return f"&H{node.value:X}"
        return str(node.value)
    if isinstance(node, n.Boolean):
        return "True" if node.value else "False"
    if isinstance(node, n.Constant | n.EnumWord):
        return node.name
    if isinstance(node, n.Attribute):
        return f"[{node.name}]"
    if isinstance(node, n.Parameter):
        return f"%{node.name}%"
    if isinstance(node, n.Variable):
        return f"${node.name}"
    if isinstance(node, n.Negate):
        inner = render(node.operand)
        if isinstance(node.operand, n.BinaryOp | n.Number | n.Negate):
            inner = f"({inner})"
        return f"-{inner}"
    if isinstance(node, n.BinaryOp):
        level = n.PRECEDENCE[node.op]
        left = render(node.left)
        right = render(node.right)
        # Left-associative levels: a left operand of the same level needs no parentheses, a right one does.
        if isinstance(node.left, n.BinaryOp) and n.PRECEDENCE[node.left.op] < level:
            left = f"({left})"
        if isinstance(node.right, n.BinaryOp) and n.PRECEDENCE[node.right.op] <= level:
            right = f"({right})"
        return f"{left} {node.op} {right}"
    if isinstance(node, n.Call):
        return f"{node.name}({', '.join(render(a) for a in node.args)})"
    raise TypeError(f"cannot render {type(node).__name__}")
