"""What a DingTalk card callback may claim: only the exact shape of one of our buttons is a press.
The button id carries the press data with its colons as underscores; a digest may hold underscores
of its own, so only the first two separate the parts."""
from __future__ import annotations

import json

import pytest

from smartbot.channels.support.buttons import decode
from smartbot.channels.support.dingtalk_cards import button_id, parse_press, press_data


@pytest.mark.parametrize("data", ["a:1:AAAAAAAAAAA", "d:123456789012:_-_-_-_-_-_", "a:7:ab_cd_ef_gh"])
def test_a_button_id_gives_back_its_data(data):
    assert press_data(button_id(data)) == data


@pytest.mark.parametrize("action_id", [None, 12, "", "a_1_AAAAAAAAAAA", "smartbot_x_1_AAAAAAAAAAA",
                                       "smartbot_a_1_" + "A" * 200])
def test_anything_else_is_not_a_press(action_id):
    assert press_data(action_id) == ""


def test_a_mangled_button_of_ours_goes_to_the_worker_which_refuses_it():
    assert press_data("smartbot_a") == "a::" and decode("a::") is None     # audited there as not valid


def _callback(**fields):
    body = {"outTrackId": "smartbot-1", "userId": "staff_bob",
            "content": json.dumps({"cardPrivateData": {"actionIds": [button_id("a:1:AAAAAAAAAAA")]}})}
    return {**body, **fields}


def test_a_press_names_the_card_the_presser_and_the_data():
    assert parse_press(_callback()) == ("smartbot-1", "staff_bob", "a:1:AAAAAAAAAAA")


@pytest.mark.parametrize("fields", [{"content": "not json"}, {"content": "[1]"}, {"content": "1" * 5 + "["},
                                    {"userId": ""}, {"userId": ["staff_bob"]}, {"outTrackId": "x" * 201},
                                    {"content": json.dumps({"cardPrivateData": {"actionIds": ["a", "b"]}})},
                                    {"content": json.dumps({"cardPrivateData": {"actionIds": "smartbot_a_1_A"}})}])
def test_malformed_callbacks_are_not_presses(fields):
    assert parse_press(_callback(**fields)) is None
