"""How the suite is spread over pytest-xdist workers: modules longest first by a recorded run, each
module's tests in their own order, and the record made from a junit report."""
from __future__ import annotations

from pathlib import Path

from tests.support.parallel import longest_modules_first, module_seconds_from_junit


class _Item:
    def __init__(self, nodeid: str, slow: bool = False) -> None:
        self.nodeid, self.slow = nodeid, slow

    def get_closest_marker(self, name: str) -> object:
        return object() if name == "slow" and self.slow else None


def _order(items: list[_Item], seconds: dict[str, float]) -> list[str]:
    longest_modules_first(items, seconds)  # type: ignore[arg-type]
    return [item.nodeid for item in items]


def test_modules_start_longest_first_and_keep_their_tests_in_order():
    items = [_Item("tests/a/test_x.py::one"), _Item("tests/a/test_x.py::two"), _Item("tests/b/test_y.py::one"),
             _Item("tests/b/test_y.py::two"), _Item("tests/test_z.py::one")]
    seconds = {"tests/a/test_x.py": 5.0, "tests/b/test_y.py": 40.0, "tests/test_z.py": 12.0}
    assert _order(items, seconds) == ["tests/b/test_y.py::one", "tests/b/test_y.py::two", "tests/test_z.py::one",
                                      "tests/a/test_x.py::one", "tests/a/test_x.py::two"]


def test_a_module_not_recorded_counts_as_a_middling_one_or_as_the_longest_when_slow():
    items = [_Item("tests/test_a.py::t"), _Item("tests/test_new.py::t"), _Item("tests/test_b.py::t"),
             _Item("tests/test_c.py::t"), _Item("tests/test_deploy_new.py::t", slow=True)]
    seconds = {"tests/test_a.py": 1.0, "tests/test_b.py": 10.0, "tests/test_c.py": 100.0}
    assert _order(items, seconds) == ["tests/test_c.py::t", "tests/test_deploy_new.py::t", "tests/test_new.py::t",
                                      "tests/test_b.py::t", "tests/test_a.py::t"]


def test_without_a_record_modules_go_by_their_number_of_tests_slow_ones_first():
    items = [_Item("tests/test_a.py::t"), _Item("tests/test_b.py::t1"), _Item("tests/test_b.py::t2"),
             _Item("tests/test_slow.py::t", slow=True)]
    assert _order(items, {}) == ["tests/test_slow.py::t", "tests/test_b.py::t1", "tests/test_b.py::t2",
                                 "tests/test_a.py::t"]


def test_module_seconds_add_up_a_junit_report_by_file(tmp_path: Path):
    report = tmp_path / "run.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" tests="4">'
        '<testcase classname="tests.api.test_api_manage" name="test_a[sqlite]" time="1.5"/>'
        '<testcase classname="tests.api.test_api_manage" name="test_b" time="2.0"/>'
        '<testcase classname="tests.test_httputil.TestParsing" name="test_c" time="0.25"/>'
        '<testcase classname="tests.test_httputil" name="test_d" time="0.25"/>'
        '</testsuite></testsuites>')
    assert module_seconds_from_junit(report) == {"tests/api/test_api_manage.py": 3.5, "tests/test_httputil.py": 0.5}
