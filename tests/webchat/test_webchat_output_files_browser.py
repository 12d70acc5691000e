"""Images and files in the bot's replies, in a real headless Chromium against the app under gunicorn,
in both languages: the image is shown in its bubble (loaded from the chat's own file URL), a PDF is
a download link, and the page breaks no content security rule. Screenshots go to tests/screenshots/."""
from __future__ import annotations

import base64

import pytest

from tests.pipeline.test_media import pdf_with, png
from tests.support.browser import csp_violations, screenshot
from tests.webchat.chat_browser import WAIT_MS, ChatPage
from tests.webchat.visitors import model_says

DOWNLOAD = {"en": "Download {name}", "zh-CN": "下载 {name}"}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_answers_image_is_shown_and_its_pdf_offered(browser, site, lang):
    image, document = png(160, 90), pdf_with("weekly report")
    site.model.script(model_says(
        f"Here is the chart: ![disk chart](data:image/png;base64,{base64.b64encode(image).decode()})\n\n"
        f"The report: data:application/pdf;base64,{base64.b64encode(document).decode()}"))
    chat = ChatPage.open(browser, site.url, f"?lang={lang}", locale="zh-CN" if lang == "zh-CN" else "en-US")
    chat.send("chart and report")
    shown = chat.page.locator(".msg.bot .file img")
    shown.wait_for(timeout=WAIT_MS)
    assert chat.until(lambda: shown.evaluate("img => img.complete && img.naturalWidth") == 160)
    assert shown.get_attribute("alt") == "disk-chart-1.png"
    links = chat.page.locator(".msg.bot .file a")
    assert chat.until(lambda: links.count() == 2)
    assert links.all_inner_texts() == [DOWNLOAD[lang].format(name="disk-chart-1.png"),
                                       DOWNLOAD[lang].format(name="file-2.pdf")]
    assert chat.page.locator(".msg.bot:has(.file) .copy").count() == 0
    with chat.page.expect_download() as download:
        links.nth(1).click()
    assert download.value.suggested_filename == "file-2.pdf"
    with open(download.value.path(), "rb") as fh:
        assert fh.read() == document
    screenshot(chat.page, f"webchat-output-files-{lang}")
    problems = chat.problems()
    assert csp_violations(problems) == [] and not [p for p in problems if p.startswith("uncaught")], problems
