"""Step templates in the sandbox: what they may use, and everything that reaches for Python
internals or would build huge text refused, when saved and again when rendered."""
from __future__ import annotations

import time

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


NESTED_LOOPS = "{% for a in 'x' * 1000 %}{% for b in 'x' * 1000 %}{% for c in 'x' * 1000 %}{% endfor %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize("source", [
    NESTED_LOOPS,
    "{{ ('x' * 16000)|select|select|select|list|length }}" * 3,        # lazy filter chains count per item
])
def test_a_template_doing_too_much_work_is_stopped_by_its_step_budget(source):
    started = time.monotonic()
    with pytest.raises(TemplateRefused) as caught:
        templates.render(source, CONTEXT, 16000)
    assert "did too much work" in caught.value.reason
    assert time.monotonic() - started < templates.MAX_SECONDS


def test_a_template_rendering_past_its_time_is_stopped_by_the_clock():
    source = "{% for a in 'x' * 16000 %}{{ (steps.a.output * 300)|sort|length }}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(TemplateRefused) as caught:
        templates.render(source, CONTEXT, 10**9, max_seconds=0.2)
    assert "took longer than 0.2 s" in caught.value.reason
    assert time.monotonic() - started < 2.0


def test_a_condition_is_bounded_like_any_template():
    with pytest.raises(TemplateRefused) as caught:
        templates.evaluate("'abc'|slice(10 ** 9)|select|list|length > 0", CONTEXT, 16000)
    assert "the result would be 1000000000 long" in caught.value.reason


@pytest.mark.parametrize("source", [
    "{{ 'a'.center(10 ** 9) }}", "{{ 'a'.ljust(10 ** 9) }}", "{{ 'a'.rjust(10 ** 9) }}", "{{ 'a'.zfill(10 ** 9) }}",
    "{{ ('\t' * 1000).expandtabs(10 ** 6) }}", "{{ ('x' * 16000).replace('x', 'x' * 16000) }}",
    "{{ ('x' * 16000)|replace('x', 'x' * 16000) }}", "{{ ('x' * 16000).join('y' * 16000) }}",
    "{{ ('y' * 16000)|join('x' * 16000) }}", "{{ ('x' * 16000).join(('y' * 16000)|select) }}",
    "{{ 'abc'|slice(10 ** 9)|list }}", "{{ 'abc'|batch(10 ** 9, 'x')|list }}",
    "{{ ('x' * 16000).encode().replace('x'.encode(), ('x' * 16000).encode()) }}",
])
def test_calls_that_would_build_a_huge_value_in_one_go_are_refused_before_they_run(source):
    with pytest.raises(TemplateRefused) as caught:
        templates.render(source, CONTEXT, 16000)
    assert "the result would be" in caught.value.reason


@pytest.mark.parametrize("source, reason", [
    ("{{ (((2 ** 64) ** 64) ** 64) ** 64 }}", "the number would be too large"),
    ("{{ (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) "
     "* (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) "
     "* (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) * (10 ** 60) }}", "the number would be too large"),
    ("{{ '%.999999999f' % 1.0 }}", "format width is too large"),
    ("{{ '%(a)999999999s' % {'a': 1} }}", "format width is too large"),
    ("{{ 'x'.encode() * 10 ** 9 }}", "repeated text would be too long"),
])
def test_numbers_and_formats_that_would_grow_without_bound_are_refused(source, reason):
    with pytest.raises(TemplateRefused) as caught:
        templates.render(source, CONTEXT, 16000)
    assert reason in caught.value.reason


@pytest.mark.parametrize("source, expected", [
    ("{% for a in 'x' * 3 %}-{% endfor %}{{ user.name }}", "---olga"),
    ("{{ steps.a.output.replace('%', ' percent') }} {{ 'a,b'.split(',')|join('+') }}", "42 percent a+b"),
    ("{{ 'ab'|slice(2)|list }} {{ [1, 2, 3]|batch(2)|list }} {{ args.who.center(7) }}|", "[['a'], ['b']] [[1, 2], [3]]   ops  |"),
    ("{{ 2 ** 64 }} {{ '%.2f' % 1.5 }} {{ [1, 2, 3]|batch(2, fill_with='-')|list }}",
     "18446744073709551616 1.50 [[1, 2], [3, '-']]"),
])
def test_ordinary_templates_stay_well_within_the_budget(source, expected):
    templates.check(source)
    assert templates.render(source, CONTEXT, 1000) == expected


def test_a_template_nested_too_deeply_is_refused_not_crashed():
    with pytest.raises(TemplateRefused) as caught:
        templates.check("{{ " + "(" * 500 + "1" + ")" * 500 + " }}")
    assert "nested too deeply" in caught.value.reason
