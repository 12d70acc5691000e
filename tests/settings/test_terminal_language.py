"""`smartbot check-config` and ./scripts/start.sh speak the terminal's language: SMARTBOT_LANG, else
the POSIX locale (LC_ALL, LC_MESSAGES, LANG); zh_CN.* reads Chinese, anything else English."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smartbot.i18n.terminal import terminal_locale
from tests.support import toml_writer

SMARTBOT = str(Path(sys.executable).parent / "smartbot")
START = Path(__file__).resolve().parents[2] / "scripts" / "start.sh"


def _run(args: list[str], conf: Path, **lang: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG", "SMARTBOT_LANG")}
    return subprocess.run([SMARTBOT, *args], env={**env, "SMARTBOT_CONFIG": str(conf), **lang},
                          capture_output=True, text=True, timeout=60)


def _bad_conf(tmp_path: Path, **extra) -> Path:
    """A provider whose key variable is not set, and no database yet."""
    conf = tmp_path / "smartbot.toml"
    conf.write_text(toml_writer.dumps({
        "database_url": "sqlite:///var/bot.db",
        "providers": [{"name": "m", "base_url": "http://127.0.0.1:9/v1", "model": "x",
                       "api_key_env": "SURELY_UNSET_KEY_VAR"}], **extra}))
    return conf


def test_check_config_in_a_chinese_terminal_says_the_problems_in_chinese(tmp_path):
    res = _run(["check-config"], _bad_conf(tmp_path), LANG="zh_CN.UTF-8")
    assert res.returncode == 1, res.stdout + res.stderr
    assert ("[FAIL] 模型服务 m：环境变量 SURELY_UNSET_KEY_VAR 未设置 -- export SURELY_UNSET_KEY_VAR=<你的 API 密钥>"
            in res.stdout), res.stdout
    assert f"[note] {tmp_path / 'var' / 'bot.db'} 还没有数据库" in res.stdout
    assert "[ok] 配置文件：" in res.stdout
    words = re.findall(r"[A-Za-z]{3,}", re.sub(r"\S*[/_.=<>`]\S*", " ", res.stdout))
    allowed = {"FAIL", "note", "SURELY", "UNSET", "KEY", "VAR", "API", "export", "smartbot", "upgrade"}
    assert set(words) <= allowed, words


def test_check_config_in_a_c_locale_reads_english_as_before(tmp_path):
    res = _run(["check-config"], _bad_conf(tmp_path), LANG="C")
    assert res.returncode == 1
    assert ("[FAIL] provider m: environment variable SURELY_UNSET_KEY_VAR is not set -- "
            "export SURELY_UNSET_KEY_VAR=<your API key>") in res.stdout
    assert "only the file's providers were checked" in res.stdout
    assert not re.search(r"[\u4e00-\u9fff]", res.stdout)


def test_smartbot_lang_wins_over_the_locale_and_lc_all_over_lang(tmp_path):
    conf = _bad_conf(tmp_path)
    assert "环境变量" in _run(["check-config"], conf, LANG="C", SMARTBOT_LANG="zh-CN").stdout
    assert "environment variable" in _run(["check-config"], conf, LANG="zh_CN.UTF-8", SMARTBOT_LANG="en").stdout
    assert "environment variable" in _run(["check-config"], conf, LANG="zh_CN.UTF-8", LC_ALL="C.UTF-8").stdout


def test_a_configuration_that_does_not_load_is_named_in_the_terminals_language(tmp_path):
    conf = _bad_conf(tmp_path, jobs={"threads": "lots"})
    chinese = _run(["check-config"], conf, LANG="zh_CN.UTF-8")
    assert chinese.returncode == 2 and chinese.stderr.startswith("配置错误：") and "jobs.threads" in chinese.stderr
    english = _run(["check-config"], conf, LANG="C")
    assert english.returncode == 2 and english.stderr.startswith("configuration error: ")


@pytest.mark.parametrize("environ, locale", [
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"), ({"LANG": "zh_CN"}, "zh-CN"), ({"LC_ALL": "zh_CN.GB18030@x"}, "zh-CN"),
    ({"LANG": "C"}, "en"), ({"LANG": "POSIX"}, "en"), ({"LANG": "de_DE.UTF-8"}, "en"), ({}, "en"),
    ({"LANG": ""}, "en"), ({"SMARTBOT_LANG": "../../etc"}, "en"), ({"SMARTBOT_LANG": "en", "LANG": "zh_CN"}, "en"),
])
def test_the_terminals_language(environ, locale):
    assert terminal_locale(environ) == locale


def test_start_sh_says_its_own_lines_from_the_catalogues():
    """start.sh's lines come from the catalogues (its `say`), in either language."""
    script = START.read_text()
    assert not re.findall(r'^\s*echo ', script, re.M), "a line of start.sh's own that the catalogues do not have"
    keys = re.findall(r"\bsay (setup\.[a-z_]+)", script)
    assert len(keys) == 3
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "SMARTBOT_LANG")}
    for key in keys:
        said = {lang: subprocess.run([sys.executable, "-m", "smartbot.i18n.terminal", key, "path=P", "command=C",
                                      "config=F"], env={**env, "LANG": lang}, capture_output=True, text=True,
                                     timeout=30).stdout for lang in ("zh_CN.UTF-8", "C")}
        assert re.search(r"[\u4e00-\u9fff]", said["zh_CN.UTF-8"]) and said["C"].isascii() and said["C"].strip()
