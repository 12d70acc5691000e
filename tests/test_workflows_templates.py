"""Step templates in the sandbox: what they may use, and everything that reaches for Python
internals or would build huge text refused, when saved and again when rendered."""
from __future__ import annotations

import pytest

from smartbot.workflows import templates
from smartbot.workflows.templates import TemplateRefused

CONTEXT = {"args": {"who": "ops", "key": "__class__", "n": 3}, "steps": {"a": {"output": "42%", "status": "succeeded"}},
           "user": {"name": "olga", "roles": ["operator"]}, "chat": {"channel": "generic", "id": "c1"}}


@pytest.mark.parametrize("source, expected", [
    ("{{ args.who }} {{ steps.a.output }} {{ steps.a.status }}", "ops 42% succeeded"),
    ("{{ user.name|upper }} in {{ chat.channel }}:{{ chat.id }}", "OLGA in generic:c1"),
    ("{% if '4' in steps.a.output %}high{% else %}low{% endif %}", "high"),
    ("{{ '%s=%d' % (args.who, args.n) }} {{ '{} {:>4}'.format(1, 2) }}", "ops=3 1    2"),
])
def test_templates_see_args_steps_user_and_chat(source, expected):
    templates.check(source)
    assert templates.render(source, CONTEXT, 1000) == expected


@pytest.mark.parametrize("source, reason", [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "Python internals"),
    ("{{ cycler.__init__.__globals__.os }}", "Python internals"),
    ("{{ lipsum }}", "only args, steps, user and chat"),
    ("{{ args|attr('__class__') }}", "attr filter"),
    ("{{ args['__class__'] }}", "Python internals"),
    ("{% set args = 1 %}", "may not reassign"),
    ("{{ 'a'|center(10000000000) }}", "No filter named 'center'"),
    ("{{ args.who ", "does not compile"),
])
def test_refused_when_saved(source, reason):
    with pytest.raises(TemplateRefused) as caught:
        templates.check(source)
    assert reason in caught.value.reason


@pytest.mark.parametrize("source, reason", [
    ("{{ user[args.key] }}", "refused by the sandbox"),                         # only known at run time
    ("{{ '{0.__class__}'.format(args) }}", "refused by the sandbox"),
    ("{{ 'a' * 1000000000 }}", "repeated text would be too long"),
    ("{{ '%999999999s' % args.who }}", "format width is too large"),
    ("{{ '{:>999999999}'.format(1) }}", "format width is too large"),
    ("{{ 2 ** 100000000 }}", "exponent is too large"),
    ("{{ steps.nope.output }}", "has no attribute 'nope'"),
    ("{% for i in 'x' * 40 %}{{ steps.a.output * 40 }}{% endfor %}", "more than the 1000 allowed"),
])
def test_refused_when_rendered(source, reason):
    with pytest.raises(TemplateRefused) as caught:
        templates.render(source, CONTEXT, 1000)
    assert reason in caught.value.reason
