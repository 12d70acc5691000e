"""The files of one chat message, made into what the model reads: images as image parts, voice
notes as their transcript, text files as text with their name; every other file named, not read.

Runs in the worker, after the permission and quota checks (a refused message costs no download).
Files come only through the channel's `fetch` (the platform's own file API), are checked by their
bytes, used for this turn and dropped: what is remembered is text. A file that is refused (too
large, not what it claims, not to be had) is told to the user with the reason and audited.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ...assistant.usage import Spent
from ...audit import AuditEvent
from ...channels.support.files import FetchLimits
from ...errors import MediaRefused, ProviderError
from ...i18n import t
from ...llm.base import Image, Usage
from ...messages import Attachment, InboundMessage
from . import sniff, text as texts

log = logging.getLogger(__name__)

VOICE_KINDS = ("voice", "audio")
READ_KINDS = ("image", "file") + VOICE_KINDS
BYTES_PER_AUDIO_MINUTE = 16000 * 60 // 8 * 2     # ~32 kbit/s, what voice notes are recorded at


@dataclass
class Intake:
    """What the model gets, what memory keeps and what the user is told about the files."""

    text: str = ""                  # the user's words, transcripts and file texts
    remembered: str = ""            # the same, with file contents left out (memory keeps text only)
    images: list[Image] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    spent: list[Spent] = field(default_factory=list)


def own_text(msg: InboundMessage) -> str:
    """The user's own words: the text without the placeholders a channel wrote for the files."""
    words = msg.text
    for attachment in msg.attachments:
        words = words.replace(attachment.placeholder, "", 1)
    return words.strip()


def take_in(ctx: Any, msg: InboundMessage, actor: str, user: str) -> Intake:
    """Read `msg`'s files for the model; `ctx` is the chat handler's HandlerContext, `actor` names
    the sender in audit rows, `user` in usage."""
    reader = _Reader(ctx, msg, actor, user)
    words = own_text(msg)
    parts, kept = [words] if words else [], [words] if words else []
    for index, attachment in enumerate(msg.attachments):
        part, memory = reader.read(attachment, index)
        if part:
            parts.append(part)
            kept.append(memory)
    if not words and not reader.used:
        return reader.intake        # nothing of the user's own to answer: the notices say why
    reader.intake.text, reader.intake.remembered = "\n\n".join(parts), "\n\n".join(kept)
    return reader.intake


class _Reader:
    def __init__(self, ctx: Any, msg: InboundMessage, actor: str, user: str) -> None:
        self.ctx, self.msg, self.actor, self.user = ctx, msg, actor, user
        self.media = ctx.settings.media
        self.limits = FetchLimits(self.media.max_bytes, self.media.download_timeout)
        self.intake = Intake()
        self.used = 0           # files the model gets something of (an image, a transcript, a name)

    def read(self, attachment: Attachment, index: int) -> tuple[str, str]:
        """(what the model reads of one file, what memory keeps of it); ("", "") for a file that
        was refused (the user is told why, the model is not)."""
        name = attachment.name or attachment.kind
        named = f"[{attachment.kind}: {name}, not read]"
        label = attachment.placeholder
        if attachment.kind in VOICE_KINDS and not self.ctx.settings.speech.provider:
            self.intake.notices.append(t("media.no_speech", self.ctx.locale))
            return "", ""
        self.used += 1
        if attachment.kind not in READ_KINDS or index >= self.media.max_files:
            return named, named
        try:
            data = self._fetch(attachment)
            media_type = checked(attachment, data)
        except MediaRefused as exc:
            self.used -= 1
            self._refused(attachment, exc)
            return "", ""
        family = sniff.family(media_type)
        if family == "image":
            self.intake.images.append(Image(media_type, data))
            self._spend("media", media_type, self.media.tokens_per_image)
            return label, label
        if family == "audio":
            return self._transcribed(attachment, data, media_type)
        return self._read_text(name, data, family), f"[file: {name}]"

    def _fetch(self, attachment: Attachment) -> bytes:
        if attachment.size > self.limits.max_bytes:
            raise MediaRefused("too_large", f"the file is larger than {self.limits.max_bytes} bytes")
        channel = self.ctx.channels.get(self.msg.channel)
        if channel is None:
            raise MediaRefused("not_supported", "this channel cannot fetch files")
        return channel.fetch(self.msg, attachment, self.limits)

    def _refused(self, attachment: Attachment, exc: MediaRefused) -> None:
        log.info("file of message %s refused: %s", self.msg.event_id, exc.code)
        self.intake.notices.append(t(f"media.refused.{exc.code}", self.ctx.locale,
                                     name=attachment.name or attachment.placeholder, limit=_megabytes(self.limits.max_bytes)))
        self.intake.audit.append(AuditEvent(
            "media.refused", self.actor, self.msg.chat_key, "denied",
            {"event_id": self.msg.event_id, "kind": attachment.kind, "name": attachment.name[:200],
             "code": exc.code, "reason": exc.reason}))

    def _transcribed(self, attachment: Attachment, data: bytes, media_type: str) -> tuple[str, str]:
        speech = self.ctx.settings.speech
        spec = self.ctx.providers.spec(speech.provider)
        name = attachment.name or f"voice.{media_type.split('/')[1]}"
        if spec is None:
            self.used -= 1
            self.intake.notices.append(t("media.no_speech", self.ctx.locale))
            return "", ""
        try:
            words = self.ctx.models.transcribe(spec, speech.model, data, name, media_type).strip()
        except ProviderError as exc:
            self.intake.notices.append(t("media.speech_failed", self.ctx.locale))
            self.intake.audit.append(AuditEvent("model.error", self.actor, spec.name, "error",
                                                {"kind": exc.kind, "reason": exc.reason,
                                                 "event_id": self.msg.event_id, "route": "speech"}))
            self.used -= 1
            return "", ""
        minutes = max(1, len(data) // BYTES_PER_AUDIO_MINUTE)
        self._spend(spec.name, speech.model, minutes * speech.tokens_per_minute)
        self.intake.audit.append(AuditEvent("media.transcribed", self.actor, self.msg.chat_key, "ok",
                                            {"event_id": self.msg.event_id, "provider": spec.name,
                                             "model": speech.model, "bytes": len(data), "chars": len(words)}))
        said = f"[voice note, transcribed]: {words}"
        return said, said

    def _read_text(self, name: str, data: bytes, family: str) -> str:
        limit = self.media.max_text_chars
        if limit <= 0:
            return f"[file: {name}, not read]"
        if family == "pdf":
            content = texts.pdf_text(data, limit)
        elif texts.is_text_name(name):
            content = texts.plain_text(data)
        else:
            content = None
        if content is None:
            return f"[file: {name}, not read]"
        content, cut = texts.clipped(content, limit)
        more = f"\n[... the rest of {name} is not shown]" if cut else ""
        return f"[file: {name}]\n{content}{more}"

    def _spend(self, provider: str, model: str, tokens: int) -> None:
        if tokens > 0:
            self.intake.spent.append(Spent(self.user, provider, model, Usage(tokens, 0), 0.0, self.msg.received_at))


def checked(attachment: Attachment, data: bytes) -> str:
    """The file's type by its bytes; MediaRefused("mislabelled") when they are not what it is sent
    as (an image that is not an image, a voice note that is not audio, a .pdf that is not a PDF)."""
    media_type = sniff.sniff(data)
    expected = {"image": "image", "voice": "audio", "audio": "audio"}.get(attachment.kind) \
        or sniff.claimed(attachment.name, attachment.mime)
    if expected and sniff.family(media_type) != expected:
        shown = media_type or "not a type SmartBot reads"
        raise MediaRefused("mislabelled", f"sent as {expected}, but its bytes are {shown}")
    return media_type


def _megabytes(size: int) -> str:
    return f"{size / 1048576:.0f} MB" if size >= 1048576 else f"{size // 1024} KB"
