"""What a file is, read from its first bytes (magic numbers), never from the name or type a
platform or a user declared: those only have to agree with it."""
from __future__ import annotations

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
AUDIO_TYPES = ("audio/ogg", "audio/mpeg", "audio/wav", "audio/mp4", "audio/webm")
PDF = "application/pdf"
# ftyp brands of MPEG-4 audio (M4A, and the ISO brands phones record voice notes with).
_M4A_BRANDS = (b"M4A ", b"M4B ", b"mp42", b"isom", b"iso2", b"mp41", b"3gp4", b"3gp5")
# The file name extensions of kinds that must match their bytes when a file claims them.
CLAIMED_BY_EXTENSION = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "mp3": "audio/mpeg", "wav": "audio/wav",
    "m4a": "audio/mp4", "webm": "audio/webm", "pdf": PDF,
}


def sniff(data: bytes) -> str:
    """The media type the bytes show, or "" when they are none of the types SmartBot reads."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return "audio/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm"
    if head.startswith(b"%PDF-"):
        return PDF
    return ""


def family(media_type: str) -> str:
    """image | audio | pdf | "" (a type SmartBot does not read)."""
    if media_type in IMAGE_TYPES:
        return "image"
    if media_type in AUDIO_TYPES:
        return "audio"
    return "pdf" if media_type == PDF else ""


def claimed(name: str, declared: str) -> str:
    """The family a file claims to be by its declared type or its name's extension ("" = no claim
    SmartBot can check)."""
    major = declared.split("/", 1)[0].lower()
    if major in ("image", "audio"):
        return major
    if declared.lower().split(";")[0].strip() == PDF:
        return "pdf"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return family(CLAIMED_BY_EXTENSION.get(extension, ""))
