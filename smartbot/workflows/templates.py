"""Step templates: Jinja2 in an immutable sandbox with strict undefined names and no globals.

A template sees only `args`, `steps.<name>.output`, `steps.<name>.status`, `user` and `chat`. It
must never reach Python internals: names and attributes starting with `_` are refused when a
workflow is saved (`check`), and the sandbox refuses them again when a step renders (`render`), so
a stored definition that slipped past the check is still never executed. Rendered text is capped.
"""
from __future__ import annotations

import re
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_SOURCE = 20_000


class TemplateRefused(ValueError):
    """A template that does not compile, reaches for internals, names an unknown thing or grows too big."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# Padding filters take a width: `"a"|center(10**10)` would build ten gigabytes before any cap.
_WIDE_FILTERS = ("center", "indent", "wordwrap", "format")
# A printf or str.format width of five digits or more, or one taken from an argument (`*`, `{:{}}`).
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\*|\d{5,})|\{[^{}]*:[^{}]*(\d{5,}|\{)")


class _Sandbox(ImmutableSandboxedEnvironment):
    """No globals (no cycler, joiner, namespace, range) and no way to build huge text before the
    cap applies: `'a' * 10**9`, `'%99999999s' % x`, `'{:>99999999}'.format(x)` and padding filters
    are refused."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self, cap: int) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals.clear()
        for name in _WIDE_FILTERS:
            self.filters.pop(name, None)
        self.cap = cap

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDE_FORMAT.search(str(getattr(value, "__self__", ""))):
            raise SecurityError("the format width is too large")
        return wrapped

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError("the exponent is too large")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("the format width is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > self.cap:
                    raise SecurityError("the repeated text would be too long")
        return super().call_binop(context, operator, left, right)


ALLOWED_NAMES = frozenset({"args", "steps", "user", "chat", "true", "false", "none", "True", "False", "None"})


def check(source: str) -> None:
    """Refuse, before anything runs, a template that cannot compile or reaches for internals."""
    if len(source) > MAX_SOURCE:
        raise TemplateRefused(f"is longer than {MAX_SOURCE} characters")
    env = _Sandbox(MAX_SOURCE)
    try:
        tree = env.parse(source)
    except TemplateError as exc:
        raise TemplateRefused(f"does not compile: {exc}") from None
    _check_tree(tree)
    try:
        env.compile(source)         # unknown filters and tests show only here
    except TemplateError as exc:
        raise TemplateRefused(f"does not compile: {exc}") from None


def check_expression(source: str) -> None:
    check("{{ " + source + " }}")


def _check_tree(tree: nodes.Node) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter, nodes.Test)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateRefused(f"reaches for Python internals ({node.attr!r}); only args, steps, user and "
                                  "chat may be used")
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and \
                str(node.arg.value).startswith("_"):
            raise TemplateRefused(f"reaches for Python internals ({node.arg.value!r})")
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in ALLOWED_NAMES:
            raise TemplateRefused(f"uses {node.name!r}; only args, steps, user and chat are known")
        if isinstance(node, nodes.Filter) and node.name == "attr":
            raise TemplateRefused("the attr filter is not allowed")
    for node in tree.find_all(nodes.Assign):
        for target in node.find_all(nodes.Name):
            if target.ctx == "store" and target.name in ALLOWED_NAMES:
                raise TemplateRefused(f"may not reassign {target.name!r}")


def step_refs(source: str) -> set[str]:
    """The step names a (checked) template reads as `steps.<name>` or `steps['<name>']`."""
    if "{" not in source:
        return set()
    tree = _Sandbox(MAX_SOURCE).parse(source)
    refs = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == "steps":
            if isinstance(node, nodes.Getattr):
                refs.add(node.attr)
            elif isinstance(node.arg, nodes.Const):
                refs.add(str(node.arg.value))
    return refs


def render(source: str, context: dict[str, Any], cap: int) -> str:
    """Render in the sandbox; any refusal or error becomes TemplateRefused with the reason."""
    env = _Sandbox(cap)
    try:
        text = env.from_string(source).render(**context)
    except SecurityError as exc:
        raise TemplateRefused(f"was refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise TemplateRefused(f"could not be rendered: {exc}") from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise TemplateRefused(f"could not be rendered: {type(exc).__name__}: {exc}") from None
    if len(text) > cap:
        raise TemplateRefused(f"rendered to {len(text)} characters, more than the {cap} allowed")
    return text


def evaluate(expression: str, context: dict[str, Any], cap: int) -> bool:
    """A condition: the expression rendered in the sandbox, true unless it renders falsy."""
    text = render("{{ (" + expression + ") and 'true' or '' }}", context, cap)
    return text == "true"
