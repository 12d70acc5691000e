"""Step templates: Jinja2 in an immutable sandbox with strict undefined names and no globals.

A template sees only `args`, `steps.<name>.output`, `steps.<name>.status`, `user` and `chat`. It
must never reach Python internals: names and attributes starting with `_` are refused when a
workflow is saved (`check`), and the sandbox refuses them again when a step renders (`render`), so
a stored definition that slipped past the check is still never executed. Rendered text is capped,
and so is the work one rendering may do: every loop turn, call, filter, operator and lookup spends
from a budget of steps, the clock is read as it goes, and the calls that could build a huge value
in one go (padding widths, `replace`, `join`, `slice`, big numbers) are refused before they run.
Nothing here runs in a thread of its own: a template that does too much fails where it stands.
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Sized
from typing import Any, Callable, Iterable, Iterator

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..i18n.reasons import reason

MAX_SOURCE = 20_000
# Legitimate step templates take tens of steps; loops cannot even name their loop variable.
MAX_STEPS = 100_000             # loop turns, calls, filters, operators and lookups in one rendering
MAX_SECONDS = 2.0               # wall clock for one rendering, read every _CLOCK_EVERY steps
MAX_INT_BITS = 4096             # the largest number a template may compute (about 1,200 digits)
_CLOCK_EVERY = 256
_COUNTED = "_counted"           # the filter every {% for %} iterates through


class TemplateRefused(ValueError):
    """A template that does not compile, reaches for internals, names an unknown thing, grows too
    big or does too much work."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _OverBudget(Exception):
    """Raised from inside a rendering that spent its steps or its time; render() says which."""


# Padding filters take a width: `"a"|center(10**10)` would build ten gigabytes before any cap.
_WIDE_FILTERS = ("center", "indent", "wordwrap", "format")
# A printf or str.format width or precision of five digits or more, or one taken from an argument.
_WIDE_FORMAT = re.compile(r"%(\([^)]*\))?[-+ #0]*(\*|\d{5,}|\d*\.(\*|\d{5,}))|\{[^{}]*:[^{}]*(\d{5,}|\{)")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _replaced(text: Any, old: Any = None, new: Any = None, count: Any = None, *_: Any, **__: Any) -> int:
    if not (isinstance(text, (str, bytes)) and type(old) is type(text) and type(new) is type(text)):
        return 0
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * (len(new) - len(old))


def _joined(separator: Any, items: Any) -> int:
    if not isinstance(separator, (str, bytes)) or not isinstance(items, Sized):
        return 0
    return len(separator) * max(len(items) - 1, 0) + sum(_size(i) for i in items)


def _width(value: Any, width: Any = 0, *_: Any, **__: Any) -> int:
    return _int(width)


# How long a call's result may get, for the calls that can build more than they are given:
# name -> f(value, *args, **kwargs), for str (and bytes) methods and for filters.
_METHOD_GROWTH: dict[str, Callable[..., int]] = {
    "center": _width, "ljust": _width, "rjust": _width, "zfill": _width,
    "expandtabs": lambda s, tabsize=8, *_, **__: len(s) * max(_int(tabsize), 1),
    "replace": _replaced, "join": lambda s, items=(), *_, **__: _joined(s, items),
}
_FILTER_GROWTH: dict[str, Callable[..., int]] = {
    "replace": _replaced, "join": lambda items, d="", *_, **__: _joined(str(d), items),
    "slice": _width, "batch": _width,           # as many lists as asked for, or items filled in
}


class _Sandbox(ImmutableSandboxedEnvironment):
    """No globals (no cycler, joiner, namespace, range) and no way to build huge text before the
    cap applies: `'a' * 10**9`, `'%99999999s' % x`, `'{:>99999999}'.format(x)`, `x.center(10**9)`
    and padding filters are refused. Each instance serves one rendering and holds its budget."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self, cap: int, max_steps: int = MAX_STEPS, max_seconds: float = MAX_SECONDS) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals.clear()
        for name in _WIDE_FILTERS:
            self.filters.pop(name, None)
        self.filters = {name: self._counted_filter(name, fn) for name, fn in self.filters.items()}
        self.filters[_COUNTED] = self._counted_iter
        self.cap = cap
        self.max_steps, self.max_seconds = max_steps, max_seconds
        self.steps_left = max_steps
        self.deadline = time.monotonic() + max_seconds

    # -- the budget ------------------------------------------------------------------------
    def spend(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise _OverBudget(f"did too much work (more than {self.max_steps} steps of loops, calls, filters "
                              "and operators)")
        if self.steps_left % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise _OverBudget(f"took longer than {self.max_seconds:g} s to render")

    def _counted_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.spend()
            yield item

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every {% for %} iterates through the counting filter, so each turn spends a step."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.lineno)
            loop.iter.set_environment(self)
        return tree

    def _counted_filter(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        lead = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0     # context / eval_ctx / environment
        growth = _FILTER_GROWTH.get(name)

        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.spend()
            if growth is not None:
                if name == "join" and not isinstance(args[lead], Sized):
                    args = (*args[:lead], list(self._counted_iter(args[lead])), *args[lead + 1:])
                self._refuse_growth(growth(*args[lead:], **kwargs), args[lead])
            return self._counted_result(fn(*args, **kwargs))
        return counted

    def _counted_result(self, value: Any) -> Any:
        """A lazy result (a generator from map, select, slice...) spends a step per item too."""
        if isinstance(value, Iterator):
            return self._counted_iter(value)
        return value

    def _refuse_growth(self, size: int, given: Any) -> None:
        if size > self.cap and size > _size(given):
            raise SecurityError(f"the result would be {size} long, more than the {self.cap} allowed")

    # -- the sandbox's hooks ------------------------------------------------------------------
    def getattr(self, obj: Any, attribute: str) -> Any:
        self.spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.spend()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - as Jinja's
        __self.spend()
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, (str, bytes)) and name in _METHOD_GROWTH:
            if name == "join" and args and not isinstance(args[0], Sized):
                args = (list(__self._counted_iter(args[0])), *args[1:])
            __self._refuse_growth(_METHOD_GROWTH[name](owner, *args, **kwargs), owner)
        return __self._counted_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDE_FORMAT.search(str(getattr(value, "__self__", ""))):
            raise SecurityError("the format width is too large")
        return wrapped

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.spend()
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError("the exponent is too large")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and \
                left.bit_length() * right > MAX_INT_BITS:
            raise SecurityError("the number would be too large")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("the format width is too large")
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError("the number would be too large")
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and \
                        len(seq) * times > self.cap:
                    raise SecurityError("the repeated text would be too long")
        return super().call_binop(context, operator, left, right)


ALLOWED_NAMES = frozenset({"args", "steps", "user", "chat", "true", "false", "none", "True", "False", "None"})


def check(source: str) -> None:
    """Refuse, before anything runs, a template that cannot compile or reaches for internals."""
    if len(source) > MAX_SOURCE:
        raise TemplateRefused(reason("reason.workflow_def.too_long", n=MAX_SOURCE))
    env = _Sandbox(MAX_SOURCE)
    try:
        tree = env.parse(source)
        _check_tree(tree)
        env.compile(source)         # unknown filters and tests show only here
    except TemplateError as exc:
        raise TemplateRefused(reason("reason.template.compile", problem=str(exc))) from None
    except RecursionError:
        raise TemplateRefused(reason("reason.workflow_def.too_deep")) from None


def check_expression(source: str) -> None:
    check("{{ " + source + " }}")


def _check_tree(tree: nodes.Node) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter, nodes.Test)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateRefused(reason("reason.template.internals_attr", name=repr(node.attr)))
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and \
                str(node.arg.value).startswith("_"):
            raise TemplateRefused(reason("reason.template.internals_item", name=repr(node.arg.value)))
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in ALLOWED_NAMES:
            raise TemplateRefused(reason("reason.template.unknown_name", name=repr(node.name)))
        if isinstance(node, nodes.Filter) and node.name == "attr":
            raise TemplateRefused(reason("reason.template.attr_filter"))
    for node in tree.find_all(nodes.Assign):
        for target in node.find_all(nodes.Name):
            if target.ctx == "store" and target.name in ALLOWED_NAMES:
                raise TemplateRefused(reason("reason.template.reassign", name=repr(target.name)))


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


def render(source: str, context: dict[str, Any], cap: int, max_steps: int = MAX_STEPS,
           max_seconds: float = MAX_SECONDS) -> str:
    """Render in the sandbox, within the budget; any refusal or error becomes TemplateRefused
    with the reason."""
    env = _Sandbox(cap, max_steps, max_seconds)
    try:
        template = env.from_string(source)
        env.deadline = time.monotonic() + max_seconds      # compiling is bounded by the source's size
        text = template.render(**context)
    except _OverBudget as exc:
        raise TemplateRefused(str(exc)) from None
    except SecurityError as exc:
        raise TemplateRefused(f"was refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise TemplateRefused(f"could not be rendered: {exc}") from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise TemplateRefused(f"could not be rendered: {type(exc).__name__}: {exc}") from None
    except (RecursionError, MemoryError):
        raise TemplateRefused("is nested too deeply or builds too much to render") from None
    if len(text) > cap:
        raise TemplateRefused(f"rendered to {len(text)} characters, more than the {cap} allowed")
    return text


def evaluate(expression: str, context: dict[str, Any], cap: int, max_steps: int = MAX_STEPS,
             max_seconds: float = MAX_SECONDS) -> bool:
    """A condition: the expression rendered in the sandbox, true unless it renders falsy."""
    text = render("{{ (" + expression + ") and 'true' or '' }}", context, cap, max_steps, max_seconds)
    return text == "true"
