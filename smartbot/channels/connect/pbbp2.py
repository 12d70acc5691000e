"""Feishu/Lark long-connection frames ("pbbp2", protobuf 2), encoded and decoded by hand.

lark-oapi has the generated class, but importing it imports the SDK's websocket client, which sets up
an asyncio event loop of its own at import time; the message has a handful of fields, so they are
written here and checked against lark-oapi's encoder in the tests. Fields (number, type):
SeqID 1 uint64, LogID 2 uint64, service 3 int32, method 4 int32 (0 control, 1 data), headers 5
repeated {key 1 string, value 2 string}, payload_encoding 6, payload_type 7 (strings), payload 8
bytes, LogIDNew 9 string. Decoding refuses truncated or ill-typed input with FrameError; unknown
fields are skipped, as protobuf readers do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CONTROL, DATA = 0, 1
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class FrameError(ValueError):
    """The bytes are not a pbbp2 frame."""


@dataclass
class Frame:
    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = CONTROL
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload_encoding: str = ""
    payload_type: str = ""
    payload: bytes = b""
    log_id_new: str = ""

    def header(self, key: str) -> str:
        """The first header named `key`, or ""."""
        return next((value for name, value in self.headers if name == key), "")

    def encode(self) -> bytes:
        out = bytearray()
        for number, value in ((1, self.seq_id), (2, self.log_id), (3, self.service), (4, self.method)):
            _tag(out, number, _VARINT)
            _varint(out, value & _MASK64)
        for key, value in self.headers:
            inner = bytearray()
            _text(inner, 1, key)
            _text(inner, 2, value)
            _bytes(out, 5, bytes(inner))
        for number, text in ((6, self.payload_encoding), (7, self.payload_type)):
            if text:
                _text(out, number, text)
        if self.payload:
            _bytes(out, 8, self.payload)
        if self.log_id_new:
            _text(out, 9, self.log_id_new)
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Frame:
        frame, seen = cls(), set()
        for number, value in _fields(data):
            seen.add(number)
            if number in (1, 2, 3, 4):
                if not isinstance(value, int):
                    raise FrameError(f"field {number} must be a number")
                if number in (3, 4):
                    value = _int32(value)
                setattr(frame, ("seq_id", "log_id", "service", "method")[number - 1], value)
            elif number == 5:
                frame.headers.append(_header(_need_bytes(value, number)))
            elif number in (6, 7, 9):
                setattr(frame, {6: "payload_encoding", 7: "payload_type", 9: "log_id_new"}[number],
                        _utf8(_need_bytes(value, number)))
            elif number == 8:
                frame.payload = _need_bytes(value, number)
        if not {1, 2, 3, 4} <= seen:
            raise FrameError("a required field (SeqID, LogID, service, method) is missing")
        return frame


def _header(data: bytes) -> tuple[str, str]:
    key = value = None
    for number, item in _fields(data):
        if number == 1:
            key = _utf8(_need_bytes(item, number))
        elif number == 2:
            value = _utf8(_need_bytes(item, number))
    if key is None or value is None:
        raise FrameError("a header lacks its key or value")
    return key, value


def _fields(data: bytes):
    """(field number, int or bytes) for each field in `data`."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise FrameError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == _BYTES:
            size, pos = _read_varint(data, pos)
            if pos + size > end:
                raise FrameError("a field runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > end:
                raise FrameError("a field runs past the end")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        else:
            raise FrameError(f"wire type {wire} is not used by this message")
        yield number, value


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise FrameError("a number is cut off or too long")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & _MASK64, pos
        shift += 7


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _need_bytes(value: int | bytes, number: int) -> bytes:
    if not isinstance(value, bytes):
        raise FrameError(f"field {number} must be length-delimited")
    return value


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("a text field is not UTF-8") from None


def _tag(out: bytearray, number: int, wire: int) -> None:
    _varint(out, number << 3 | wire)


def _varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def _bytes(out: bytearray, number: int, data: bytes) -> None:
    _tag(out, number, _BYTES)
    _varint(out, len(data))
    out += data


def _text(out: bytearray, number: int, text: str) -> None:
    _bytes(out, number, text.encode("utf-8"))
