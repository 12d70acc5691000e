"""The Knowledge page in a real headless Chromium against the app under gunicorn, in English and in
Chinese: an admin makes a space with the page's form, uploads a file and types a document, watches
the page (which reloads itself while anything is indexing) show the progress bar and then both
documents ready, tests a search and reads the scored chunks, and removes a document. The chunks are
embedded by a slow fake embeddings endpoint, so the progress is there to be seen. In zh-CN the page
shows no English but what the admin typed. Screenshots: tests/screenshots/knowledge-<lang>-*.png."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Error as PlaywrightError

from smartbot.knowledge.extract import KINDS
from tests.admin.test_admin_languages import VISIBLE_TEXT, WORD, english_words
from tests.support.admin_site import AdminSite
from tests.support.browser import csp_violations, launched, screenshot, watch_console
from tests.support.fake_embeddings import FakeEmbeddings

TEXTS = {
    "en": {"space": "faq", "file_title": "Return policy", "typed_title": "Opening hours",
           "file": "# Returns\n\nUnopened products can be returned within 30 days of delivery for a full refund.\n\n",
           "typed": "# Hours\n\nThe shop opens at ten in the morning and closes at eight in the evening.",
           "query": "can I return a product?", "found": "within 30 days"},
    "zh-CN": {"space": "faq", "file_title": "退货政策", "typed_title": "营业时间",
              "file": "# 退货\n\n未拆封的商品在收货后三十天内可以退货并全额退款。\n\n",
              "typed": "# 营业时间\n\n上海门店周一至周五上午十点开门，晚上八点关门。",
              "query": "商品可以退货吗？", "found": "三十天内可以退货"},
}


def _long_file(head: str, lang: str) -> bytes:
    """The policy, then enough numbered sections that indexing takes a few embedding calls."""
    filler = ("Section {n}: the warranty terms for product line {n} are printed on its box.\n\n" if lang == "en"
              else "第{n}节：产品线{n}的保修条款印在包装盒上。\n\n")
    return (head + "".join(filler.format(n=n) for n in range(1500))).encode()


def _until(page, condition: str, timeout: float = 40.0) -> None:
    """Wait for a condition on a page that reloads itself meanwhile (a reload interrupts a check)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(condition):
                return
        except PlaywrightError:
            pass
        assert time.monotonic() < deadline, page.content()[-3000:]
        time.sleep(0.2)


@pytest.fixture
def browser():
    with launched() as instance:
        yield instance


@pytest.fixture
def embeddings():
    server = FakeEmbeddings().start()
    yield server
    server.stop()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_space_is_made_filled_watched_searched_and_emptied_in_the_browser(browser, gunicorn_app, make_config,
                                                                           fake_model, embeddings, tmp_path, lang):
    words = TEXTS[lang]
    config = make_config(model=fake_model, knowledge={"embeddings_provider": "emb", "chunk_chars": 200,
                                                      "chunk_overlap": 0})
    config["providers"].append({"name": "emb", "kind": "openai", "base_url": embeddings.base_url, "model": "emb-1"})
    site = AdminSite(gunicorn_app(config, workers=2))
    try:
        page = site.log_in(browser, lang)
        console = watch_console(page)
        page.locator("header nav a[href$='/admin/knowledge']").first.click()
        page.wait_for_selector("#new-space")
        screenshot(page, f"knowledge-{lang}-1-empty")

        form = page.locator("#new-space")
        form.locator("input[name=name]").fill(words["space"])
        form.locator("input[name=description]").fill(words["file_title"])
        form.locator("input[name=min_score]").fill("0.3")
        form.locator("button[type=submit]").click()
        space = page.locator(f"#space-{words['space']}")
        space.wait_for()

        embeddings.delay = 1.5                 # each batch of chunks waits for its vectors
        upload = tmp_path / "returns.md"
        upload.write_bytes(_long_file(words["file"], lang))
        space.locator("summary").first.click()
        add = space.locator("form.add-document")
        add.locator("input[name=title]").fill(words["file_title"])
        add.locator("input[name=file]").set_input_files(str(upload))
        add.locator("button[type=submit]").click()
        page.wait_for_selector(f"#space-{words['space']} tr[class^=status-]")
        assert page.locator("tr.status-indexing progress, tr.status-pending progress").count() == 1, \
            page.locator("table.documents").inner_text()
        screenshot(page, f"knowledge-{lang}-2-indexing")

        space = page.locator(f"#space-{words['space']}")
        space.locator("summary").first.click()
        add = space.locator("form.add-document")
        add.locator("input[name=title]").fill(words["typed_title"])
        add.locator("textarea[name=text]").fill(words["typed"])
        page.wait_for_timeout(3500)            # the page's reload time passes: what was typed stays
        assert add.locator("textarea[name=text]").input_value() == words["typed"]
        add.locator("button[type=submit]").click()
        # No reload from the test: the page refreshes itself while a document is indexing.
        _until(page, "document.querySelectorAll('tr.status-ready').length === 2")
        assert page.locator("progress").count() == 0
        screenshot(page, f"knowledge-{lang}-3-ready")

        embeddings.delay = 0.0
        search = page.locator(f"#space-{words['space']} form.search")
        search.locator("input[name=q]").fill(words["query"])
        search.locator("button[type=submit]").click()
        results = page.locator("table.results tr:has(td)")
        results.first.wait_for()
        first = results.first.locator("td")
        assert float(first.nth(0).inner_text()) > 0
        assert first.nth(1).inner_text() == words["file_title"]
        assert words["found"] in first.nth(2).inner_text()
        screenshot(page, f"knowledge-{lang}-4-search")
        if lang == "zh-CN":
            # What the admin typed and is called, and the file kinds, named by their extensions (txt, pdf).
            typed = set(WORD.findall(" ".join(words.values()))) | {"root"} | set(KINDS)
            assert english_words(page.evaluate(VISIBLE_TEXT), typed) == []

        row = page.locator("tr[id^=document-]", has_text=words["typed_title"])
        row.locator("button.danger").click()
        _until(page, "document.querySelectorAll('tr[id^=document-]').length === 1")
        assert words["typed_title"] not in page.locator("table.documents").inner_text()
        screenshot(page, f"knowledge-{lang}-5-removed")
        assert csp_violations(console) == []
        assert embeddings.calls() > 3, "the chunks were embedded in batches"
    finally:
        site.close()
