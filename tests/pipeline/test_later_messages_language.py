"""Messages sent later (an approval's notice and outcome, "workflow finished") are in the language
of the person they go to, not the server's default_locale: a zh-CN web chat visitor on an English
server is told in Chinese, the English approver in English, an approver who chose Chinese in Chinese."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.support.executor import Chat, add_command, bind, script
from tests.support.workflows import save, wait_run
from tests.webchat.visitors import Visitor

CHINESE = re.compile(r"[\u4e00-\u9fff]")
HELLO = """\
name: hello
steps:
  - name: tell
    kind: message
    text: "ok"
"""


@pytest.fixture
def desk(live_app, make_config, fake_platform):
    app = live_app(make_config(default_locale="en",
                               approvals={"notify": ["generic:ops-room", "generic:li"], "expire_minutes": 30}))
    db = app.runtime.db
    add_command(db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}\.[0-9]{1,3}"}], needs_approval=True)
    save(db, HELLO)
    bind(db, "boss", "bob", ["operator"])
    bind(db, "li", "li", ["operator"])
    with db.write() as conn:
        conn.execute(sa.text("UPDATE users SET locale = 'zh-CN' WHERE name = 'li'"))
        conn.execute(sa.text("UPDATE roles SET permissions = "
                             "'[\"chat\", \"command:run:deploy\", \"workflow:run:hello\"]' WHERE name = 'guest'"))
    visitor = Visitor(app.url)
    visitor.s.headers["Accept-Language"] = "zh-CN,zh;q=0.9"
    return app, Chat(app, fake_platform), visitor


def _stored_locale(app, table: str) -> list[str | None]:
    with app.runtime.db.read() as conn:
        return list(conn.execute(sa.text(f"SELECT locale FROM {table} ORDER BY id")).scalars())


def test_an_approvals_notice_and_outcome_each_reach_their_reader_in_their_language(desk):
    app, chat, visitor = desk
    asked = visitor.say("/deploy v1.2")["text"]
    assert "#1" in asked and CHINESE.search(asked), asked
    assert _stored_locale(app, "approvals") == ["zh-CN"]
    english, = chat.in_chat("ops-room")
    assert english.startswith("Approval needed") or "/approve 1" in english
    assert not CHINESE.search(english), english
    chinese, = chat.in_chat("li")
    assert "/approve 1" in chinese and CHINESE.search(chinese), chinese

    after = visitor.history().json()["last"]
    said = chat.say("/approve 1", user="boss", chat="ops-room")
    assert "Request #1 (deploy) approved." in said and "deployed v1.2" in said and not CHINESE.search(said), said
    told = visitor.replies(1, after)[0]["text"]
    assert told.startswith("请求 #1 已批准并运行") and "deployed v1.2" in told, told

    visitor.say("/deploy v2.0")
    after = visitor.history().json()["last"]
    assert "denied" in chat.say("/deny 2", user="boss", chat="ops-room")
    assert visitor.replies(1, after)[0]["text"] == "你的请求 #2（deploy）被 bob 拒绝。"


def test_workflow_finished_reaches_the_starter_in_their_language(desk):
    app, _, visitor = desk
    after = visitor.history().json()["last"]
    assert visitor.send("/workflow hello").status_code == 202
    run = wait_run(app.runtime.db)
    assert run.status == "succeeded" and run.locale == "zh-CN"
    texts = [m["text"] for m in visitor.replies(3, after)]
    assert f"工作流 hello（运行 #{run.id}）已完成。" in texts, texts
    assert not any("finished" in text or "started" in text for text in texts), texts


def test_a_request_from_before_the_language_was_kept_falls_back_to_default_locale(desk):
    app, chat, visitor = desk
    visitor.say("/deploy v1.0")
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE approvals SET locale = NULL"))
    after = visitor.history().json()["last"]
    chat.say("/deny 1", user="boss", chat="ops-room")
    assert visitor.replies(1, after)[0]["text"] == "Your request #1 (deploy) was denied by bob."


def test_a_refusal_inside_a_chat_reply_reads_in_the_askers_language(desk):
    _, _, visitor = desk
    said = visitor.say("/workflow nosuch")["text"]
    assert "nosuch" in said and CHINESE.search(said), said
    assert "there is no workflow" not in said and "not started" not in said, said
