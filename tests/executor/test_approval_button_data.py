"""The data an approval button carries: short enough for every platform, exact in shape, and bound
by its digest to one request's id, command and arguments under this server's key."""
from __future__ import annotations

import pytest

from smartbot.channels.support import buttons
from smartbot.executor import approval_buttons

KEY = approval_buttons.button_key("a-signing-key-of-at-least-32-characters!")


def test_the_data_fits_telegrams_64_bytes_even_for_the_largest_id():
    digest = approval_buttons.digest(KEY, 999_999_999_999, "deploy", {"version": "v1.2"})
    data = buttons.encode(True, 999_999_999_999, digest)
    assert len(data.encode()) <= 64 and buttons.decode(data) == buttons.Press(True, 999_999_999_999, digest)


def test_the_digest_binds_id_command_arguments_and_key():
    base = approval_buttons.digest(KEY, 7, "deploy", {"version": "v1.2"})
    others = [approval_buttons.digest(KEY, 8, "deploy", {"version": "v1.2"}),
              approval_buttons.digest(KEY, 7, "restart", {"version": "v1.2"}),
              approval_buttons.digest(KEY, 7, "deploy", {"version": "v1.3"}),
              approval_buttons.digest(approval_buttons.button_key("another-signing-key-of-32-characters-x"), 7,
                                      "deploy", {"version": "v1.2"})]
    assert base not in others and len(set(others)) == len(others)
    assert approval_buttons.matches(KEY, base, 7, "deploy", {"version": "v1.2"})
    assert not approval_buttons.matches(KEY, base, 7, "deploy", {"version": "v1.2", "extra": "x"})


@pytest.mark.parametrize("data", ["", "a:1", "x:1:AAAAAAAAAAA", "a:-1:AAAAAAAAAAA", "a:1:AAAAAAAAAA",
                                  "a:1:AAAAAAAAAAAA", "a:1:AAAAAAAAAA=", "a:1:AAAAAAAAAAA\n", "a:1e3:AAAAAAAAAAA",
                                  "a:１:AAAAAAAAAAA", "a:1234567890123:AAAAAAAAAAA"])
def test_anything_not_in_the_exact_shape_is_no_press(data):
    assert buttons.decode(data) is None


def test_only_data_claiming_to_be_ours_is_taken_from_a_platform():
    assert buttons.valid_data("a:1:whatever") == "a:1:whatever"
    assert buttons.valid_data("some-other-component") == ""
    assert buttons.valid_data("a:" + "x" * 80) == ""
    assert buttons.valid_data(["a:1:AAAAAAAAAAA"]) == ""
