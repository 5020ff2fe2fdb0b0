"""Which text encoding an uploaded CSV file is in, found without reading it whole into memory.

In order: a byte-order mark names UTF-8, UTF-16 or UTF-32; else a file that is valid UTF-8 is
UTF-8; else a legacy code page (an Excel export, say) is detected by charset-normalizer on a
bounded sample. Whatever is chosen must then decode the whole file strictly, or the file is
refused naming the first byte that does not decode.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from charset_normalizer import from_bytes

from services.datasets.sources import ByteSource, open_source

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
_READ_BYTES = 1024 * 1024
_SAMPLE_BYTES = 128 * 1024
_LINE_START_LOOKBACK = 4096
# A UTF-32 LE mark starts with the UTF-16 LE one, so the longer marks are tried first.
_BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, UTF8_BOM),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The code pages that spreadsheet exports come in when they are not Unicode: Windows' ANSI
# code pages, the East-Asian defaults (as their supersets), KOI8, Mac Roman and the DOS OEM
# ones. Leaving out the many exotic pages keeps short Latin samples from being read as one.
_CANDIDATE_CODE_PAGES = [
    *(f"cp{n}" for n in range(1250, 1259)),
    "cp874",
    "cp932",
    "euc_jp",
    "gb18030",
    "big5",
    "cp949",
    "koi8_r",
    "koi8_u",
    "mac_roman",
    "cp437",
    "cp850",
]
# Windows' ANSI code page in Western locales, which Excel's "CSV (Comma delimited)" writes:
# the likeliest source when the bytes fit several Latin code pages equally well.
_PREFERRED_CODE_PAGE = "cp1252"
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_NON_ASCII_TEXT = re.compile(r"[^\x00-\x7f]")
_SYMBOL_CATEGORIES = frozenset({"So", "Sc", "Sk", "Sm", "No"})
# charset-normalizer's own margin for two readings being equally chaotic.
_SAME_CHAOS = 0.005


class UndecodableText(Exception):
    """The file does not decode as `encoding`; `byte_offset` is the first byte that fails."""

    def __init__(self, byte_offset: int, encoding: str) -> None:
        super().__init__(f"invalid {encoding} byte at offset {byte_offset}")
        self.byte_offset = byte_offset
        self.encoding = encoding


@dataclass(frozen=True, slots=True)
class _Utf8Scan:
    """Where strict UTF-8 decoding first fails, and where the first non-ASCII byte is."""

    bad_offset: int | None
    first_non_ascii: int | None


def detect_text_encoding(source: ByteSource) -> str:
    """The Python codec that decodes all of `source`; UndecodableText when none does."""
    with open_source(source) as handle:
        head = handle.read(4)
    marked = next((codec for bom, codec in _BYTE_ORDER_MARKS if head.startswith(bom)), None)
    if marked is not None:
        _ensure_decodes(source, marked)
        return marked
    scan = _scan_utf8(source)
    if scan.bad_offset is None:
        return UTF8
    if scan.first_non_ascii is not None and scan.first_non_ascii < scan.bad_offset:
        # Valid multi-byte UTF-8 came first: this is damaged UTF-8, and reading it as a
        # code page would silently garble every accented letter before the damage.
        raise UndecodableText(scan.bad_offset, UTF8)
    guessed = _guess_code_page(source, scan.bad_offset)
    if guessed is None:
        raise UndecodableText(scan.bad_offset, UTF8)
    _ensure_decodes(source, guessed)
    return guessed


def _ensure_decodes(source: ByteSource, codec: str) -> None:
    bad = first_undecodable_byte(source, codec)
    if bad is not None:
        raise UndecodableText(bad, codec)


def first_undecodable_byte(source: ByteSource, codec: str, start: int = 0) -> int | None:
    """The offset of the first byte from `start` that `codec` cannot decode strictly, or None."""
    decoder = codecs.getincrementaldecoder(codec)()
    offset = start  # of the next block; bytes the decoder holds back come just before it
    for block in _blocks(source, start):
        held_back = _held_back(decoder)
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            return offset - held_back + exc.start
        offset += len(block)
    held_back = _held_back(decoder)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return offset - held_back + exc.start
    return None


def _held_back(decoder: codecs.IncrementalDecoder) -> int:
    return len(decoder.getstate()[0])


def _scan_utf8(source: ByteSource) -> _Utf8Scan:
    first_non_ascii: int | None = None
    offset = 0
    for block in _blocks(source):
        if not block.isascii():
            match = _NON_ASCII.search(block)
            assert match is not None
            first_non_ascii = offset + match.start()
            break
        offset += len(block)
    if first_non_ascii is None:
        return _Utf8Scan(None, None)  # ASCII is UTF-8
    # What comes before the first non-ASCII byte is ASCII, so decoding may start there.
    return _Utf8Scan(first_undecodable_byte(source, UTF8, first_non_ascii), first_non_ascii)


def _guess_code_page(source: ByteSource, bad_offset: int) -> str | None:
    """charset-normalizer's pick among the candidate code pages, on a bounded sample.

    On a short sample it cannot tell Latin code pages apart (it ranks "Genčve" in cp1250 with
    "Genève" in cp1252), so Windows-1252 is taken whenever its reading is as orderly as the
    best one; readings that put a symbol inside a word (Polish "Bia³ystok" for "Białystok")
    are dropped first.
    """
    matches = [
        match
        for match in from_bytes(_sample(source, bad_offset), cp_isolation=_CANDIDATE_CODE_PAGES)
        if not _symbol_inside_a_word(str(match))
    ]
    if not matches:
        return None
    best = matches[0]
    if any(
        _PREFERRED_CODE_PAGE in match.could_be_from_charset
        and abs(match.chaos - best.chaos) < _SAME_CHAOS
        for match in matches
    ):
        return _PREFERRED_CODE_PAGE
    return codecs.lookup(best.encoding).name


def _symbol_inside_a_word(text: str) -> bool:
    """Whether a non-ASCII symbol (not punctuation) stands between two letters."""
    return any(
        unicodedata.category(text[i]) in _SYMBOL_CATEGORIES
        and text[i - 1].isalpha()
        and text[i + 1].isalpha()
        for i in (m.start() for m in _NON_ASCII_TEXT.finditer(text, 1, len(text) - 1))
    )


def _sample(source: ByteSource, bad_offset: int) -> bytes:
    """About _SAMPLE_BYTES of whole lines: the file's head, or from the first non-UTF-8 line.

    Everything before `bad_offset` is ASCII, so a newline byte there is a real line break, and
    cutting at line ends never splits a character of an ASCII-compatible encoding.
    """
    start = 0 if bad_offset < _SAMPLE_BYTES // 2 else bad_offset - _LINE_START_LOOKBACK
    with open_source(source) as handle:
        handle.seek(start)
        sample = handle.read(bad_offset - start + _SAMPLE_BYTES)
    if start:
        sample = sample[sample.rfind(b"\n", 0, bad_offset - start) + 1 :]
    line_end = sample.rfind(b"\n")
    return sample[: line_end + 1] if line_end > 0 else sample


def _blocks(source: ByteSource, start: int = 0) -> Iterator[bytes]:
    with open_source(source) as handle:
        handle.seek(start)
        while block := handle.read(_READ_BYTES):
            yield block
