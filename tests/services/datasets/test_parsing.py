"""Parsing uploaded files into Parquet: formats, delimiters, encodings and what gets refused."""

from __future__ import annotations

import codecs
import io
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.datasets.column_stats import describe_columns
from services.datasets.parsing import (
    ROW_GROUP_ROWS,
    FileRejected,
    ParsedDataset,
    ParseLimits,
    convert_to_parquet,
    detect_format,
    sniff_delimiter,
)
from services.datasets.sources import ChunkedFile
from services.datasets.text_encoding import detect_text_encoding


def convert(
    tmp_path: Path, data: bytes, file_format: str = "csv", **limits: int
) -> tuple[ParsedDataset, pa.Table]:
    source = tmp_path / "source"
    source.write_bytes(data)
    target = tmp_path / "out.parquet"
    parsed = convert_to_parquet(source, file_format, target, ParseLimits(**limits))  # type: ignore[arg-type]
    return parsed, pq.read_table(target)


def rejected(tmp_path: Path, data: bytes, file_format: str = "csv", **limits: int) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        convert(tmp_path, data, file_format, **limits)
    return caught.value


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [["city", "population", "note"], ["Lyon", "522000", "a, b"], ["Nice", "342000", "c"]]
    quoted = [[f'"{v}"' if "," in v else v for v in row] for row in rows]
    data = "\n".join(delimiter.join(row) for row in quoted).encode() + b"\n"

    parsed, table = convert(tmp_path, data)

    assert table.column_names == ["city", "population", "note"]
    assert table.column("city").to_pylist() == ["Lyon", "Nice"]
    assert parsed.row_count == 2


def test_sniff_falls_back_to_comma_for_one_column() -> None:
    assert sniff_delimiter("value\n1\n2\n") == ","


def test_sniff_ignores_a_line_cut_by_the_sample() -> None:
    assert sniff_delimiter("a;b;c\n1;2;3\n4;5;6\n7;8") == ";"


def test_utf8_with_bom_keeps_a_clean_first_column_name(tmp_path: Path) -> None:
    data = "\ufeffnom,ville\nÉlise,Zürich\n".encode()

    assert detect_text_encoding(_write(tmp_path, data)) == "utf-8-sig"
    parsed, table = convert(tmp_path, data)

    assert table.column_names == ["nom", "ville"]
    assert table.column("ville").to_pylist() == ["Zürich"]
    assert parsed.encoding == "utf-8-sig"


def test_plain_utf8_is_detected(tmp_path: Path) -> None:
    assert detect_text_encoding(_write(tmp_path, "a\nñ\n".encode())) == "utf-8"
    assert detect_text_encoding(_write(tmp_path, b"a\nplain ascii\n")) == "utf-8"


PEOPLE = "nom,ville\nÉlise,Zürich\n田中,東京\n"


@pytest.mark.parametrize(
    "data",
    [
        PEOPLE.encode("utf-16"),  # what Excel's "Unicode Text" writes: a BOM, little-endian
        codecs.BOM_UTF16_BE + PEOPLE.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + PEOPLE.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + PEOPLE.encode("utf-32-be"),
    ],
    ids=["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"],
)
def test_utf16_and_utf32_are_read_when_a_bom_says_so(tmp_path: Path, data: bytes) -> None:
    parsed, table = convert(tmp_path, data, block_size=16)  # transcoded while streaming

    assert table.column_names == ["nom", "ville"]
    assert table.column("nom").to_pylist() == ["Élise", "田中"]
    assert table.column("ville").to_pylist() == ["Zürich", "東京"]
    assert parsed.encoding in {"utf-16", "utf-32"}


def test_a_broken_character_in_utf16_names_its_byte_offset(tmp_path: Path) -> None:
    data = "a,b\n1,2\n".encode("utf-16")  # BOM + 8 characters: 18 bytes
    data += b"\x00\xdc" + "x\n".encode("utf-16-le")  # a lone low surrogate at offset 18

    error = rejected(tmp_path, data)

    assert error.code == "BAD_ENCODING"
    assert error.details == {"byte_offset": 18, "encoding": "utf-16"}


def test_a_windows_1252_export_with_accented_names(tmp_path: Path) -> None:
    text = "nom;ville;montant\nÉlise;Zürich;12\nRené;Genève;3\nFrançois;Besançon;4\n"
    text += "Chloé « Zoé » Müller;Köln;5\nCafé crème;Saint-Étienne;7\n"

    parsed, table = convert(tmp_path, text.encode("cp1252"))

    assert parsed.encoding == "cp1252"
    assert table.column_names == ["nom", "ville", "montant"]
    assert table.column("nom").to_pylist()[:3] == ["Élise", "René", "François"]
    assert table.column("ville").to_pylist()[-1] == "Saint-Étienne"


def test_a_latin1_file_with_one_accented_letter(tmp_path: Path) -> None:
    parsed, table = convert(tmp_path, "name\nRen\u00e9\nAda\n".encode("latin-1"))

    assert parsed.encoding == "cp1252"
    assert table.column("name").to_pylist() == ["René", "Ada"]


@pytest.mark.parametrize(
    ("text", "code_page", "codec"),
    [
        ("имя,город\nИван,Москва\nПётр,Санкт-Петербург\n", "cp1251", "cp1251"),  # noqa: RUF001
        ("imię,miasto\nŁukasz Żółć,Łódź\nZofia Świątek,Kraków\n", "cp1250", "cp1250"),
        ("imię,miasto\nJan Kowalski,Wrocław\nAnna Nowak,Białystok\n", "cp1250", "cp1250"),
        ("名前,都市\n田中,東京\n鈴木,大阪\n", "shift_jis", "cp932"),
    ],
)
def test_other_code_pages_are_detected_not_assumed(
    tmp_path: Path, text: str, code_page: str, codec: str
) -> None:
    parsed, table = convert(tmp_path, text.encode(code_page))

    assert parsed.encoding == codec
    header, first_row = (line.split(",") for line in text.splitlines()[:2])
    assert table.to_pylist()[0] == dict(zip(header, first_row, strict=True))


def test_garbage_bytes_name_the_first_bad_byte(tmp_path: Path) -> None:
    garbage = random.Random(7).randbytes(4096)
    data = b"id,payload\n1," + garbage
    first_bad = _first_invalid_utf8(data)

    error = rejected(tmp_path, data)

    assert error.code == "BAD_ENCODING"
    assert error.details == {"byte_offset": first_bad, "encoding": "utf-8"}
    assert f"offset {first_bad}" in error.message


def test_damaged_utf8_is_not_read_as_a_code_page(tmp_path: Path) -> None:
    data = "name\nZürich\nRen".encode() + b"\xe9\n"  # one Latin-1 byte after real UTF-8

    error = rejected(tmp_path, data)

    assert error.code == "BAD_ENCODING"
    assert error.details == {"byte_offset": 16, "encoding": "utf-8"}


def test_the_offset_is_exact_past_a_character_split_between_read_blocks(tmp_path: Path) -> None:
    block = 1024 * 1024  # detection reads 1 MiB at a time
    data = b"a\n" + b"x" * (block - 3) + "é".encode() + b"\xff\n"  # é at block-1 and block

    error = rejected(tmp_path, data)

    assert error.details == {"byte_offset": block + 1, "encoding": "utf-8"}


def test_a_code_page_file_with_an_undefined_byte_past_the_sample(tmp_path: Path) -> None:
    rows = "".join(f"Élise {i};Genève\n" for i in range(20_000)).encode("cp1252")
    data = "nom;ville\n".encode("cp1252") + rows + b"Ren\x81;Lyon\n"  # 0x81: not in cp1252
    bad = len(data) - len(b"\x81;Lyon\n")

    error = rejected(tmp_path, data)

    assert bad > 256 * 1024  # beyond what detection samples
    assert error.code == "BAD_ENCODING"
    assert error.details == {"byte_offset": bad, "encoding": "cp1252"}
    assert "cp1252" in error.message


def test_ragged_csv_names_the_row(tmp_path: Path) -> None:
    error = rejected(tmp_path, b"a,b,c\n1,2,3\n4,5\n6,7,8\n")

    assert error.code == "CSV_RAGGED"
    assert error.details["row"] == 3
    assert "row 3" in error.message


@pytest.mark.parametrize("data", [b"", b"  \n\n", b"a,b,c\n"])
def test_empty_or_header_only_is_refused(tmp_path: Path, data: bytes) -> None:
    assert rejected(tmp_path, data).code == "EMPTY_FILE"


def test_row_limit(tmp_path: Path) -> None:
    data = b"a\n" + b"1\n" * 30

    error = rejected(tmp_path, data, max_rows=10)

    assert error.code == "TOO_MANY_ROWS"
    assert error.details["max_rows"] == 10


def test_column_limit(tmp_path: Path) -> None:
    error = rejected(tmp_path, b"a,b,c\n1,2,3\n", max_columns=2)

    assert error.code == "TOO_MANY_COLUMNS"
    assert error.details["max_columns"] == 2


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    assert rejected(tmp_path, b"a,a\n1,2\n").code == "DUPLICATE_COLUMN"


def test_schema_inference(tmp_path: Path) -> None:
    data = (
        b"count,price,flag,label,seen_at\n"
        b"1,1.5,true,x,2024-01-01T10:00:00\n"
        b"2,,false,y,2024-01-02T10:00:00\n"
        b"2,3.0,true,,2024-01-03T10:00:00\n"
    )

    parsed, _ = convert(tmp_path, data)

    shape = {c.name: (c.type, c.nulls, c.distinct_estimate) for c in parsed.columns}
    assert shape == {
        "count": ("integer", 0, 2),
        "price": ("number", 1, 2),
        "flag": ("boolean", 0, 2),
        "label": ("string", 1, 2),
        "seen_at": ("datetime", 0, 3),
    }


def test_a_late_value_widens_the_column_type(tmp_path: Path) -> None:
    # Tiny blocks: the first block says "integer", later rows hold a float and a word.
    data = b"n,m\n" + b"1,2\n" * 50 + b"2.5,oops\n"

    parsed, table = convert(tmp_path, data, block_size=64)

    assert {c.name: c.type for c in parsed.columns} == {"n": "number", "m": "string"}
    assert table.num_rows == 51
    assert table.column("n").to_pylist()[-1] == 2.5


def test_jsonl(tmp_path: Path) -> None:
    data = b'{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n{"a": 3, "b": "x"}\n'

    parsed, table = convert(tmp_path, data, "jsonl")

    assert table.column("a").to_pylist() == [1, 2, 3]
    assert [(c.name, c.type, c.nulls) for c in parsed.columns] == [
        ("a", "integer", 0),
        ("b", "string", 1),
    ]


def test_broken_jsonl_is_refused(tmp_path: Path) -> None:
    assert rejected(tmp_path, b'{"a": 1}\n{"a": \n', "jsonl").code == "JSONL_INVALID"


def test_parquet_is_validated_and_kept(tmp_path: Path) -> None:
    original = pa.table({"x": [1, 2, 3], "y": ["a", "b", None]})
    buffer = io.BytesIO()
    pq.write_table(original, buffer)

    parsed, table = convert(tmp_path, buffer.getvalue(), "parquet")

    assert table.equals(original)
    assert parsed.row_count == 3
    assert [(c.name, c.type, c.nulls) for c in parsed.columns] == [
        ("x", "integer", 0),
        ("y", "string", 1),
    ]


def test_not_parquet_is_refused(tmp_path: Path) -> None:
    assert rejected(tmp_path, b"PAR1 but not really", "parquet").code == "PARQUET_INVALID"


def test_a_chunked_source_converts_like_the_whole_file(tmp_path: Path) -> None:
    # Completing reads the chunk files in order as one stream; cuts fall mid-row, mid-char.
    data = b"nom;ville;n\n" + b"".join(f"Élise {i};Zürich;{i}\n".encode() for i in range(2_000))
    parts = []
    for n, start in enumerate(range(0, len(data), 1_000)):
        part = tmp_path / f"{n:06d}.chunk"
        part.write_bytes(data[start : start + 1_000])
        parts.append(part)

    from_chunks = convert_to_parquet(
        ChunkedFile(tuple(parts)), "csv", tmp_path / "a.parquet", ParseLimits(block_size=4096)
    )
    whole, table = convert(tmp_path, data, block_size=4096)

    assert from_chunks == whole
    assert pq.read_table(tmp_path / "a.parquet").equals(table)
    assert table.num_rows == 2_000


def test_a_ragged_row_is_named_across_chunks(tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,2\n" * 5_000 + b"3\n"
    parts = []
    for n, start in enumerate(range(0, len(data), 777)):
        part = tmp_path / f"{n:06d}.chunk"
        part.write_bytes(data[start : start + 777])
        parts.append(part)

    with pytest.raises(FileRejected) as caught:
        convert_to_parquet(
            ChunkedFile(tuple(parts)), "csv", tmp_path / "a.parquet", ParseLimits(block_size=512)
        )

    assert caught.value.code == "CSV_RAGGED"
    assert caught.value.details["row"] == 5_002


def test_an_all_empty_column_and_odd_parquet_types_convert(tmp_path: Path) -> None:
    parsed, table = convert(tmp_path, b"a,empty\n1,\n2,\n")

    assert table.schema.field("empty").type == pa.null()
    assert [(c.name, c.type, c.nulls) for c in parsed.columns][1] == ("empty", "string", 2)

    original = pa.table(
        {
            "kind": pa.array(["x", "y", "x"]).dictionary_encode(),
            "tags": pa.array([[1], [2, 3], None]),
            "point": pa.array([{"x": 1}, {"x": 2}, None]),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(original, buffer)
    _, table = convert(tmp_path, buffer.getvalue(), "parquet")

    assert table.equals(original)


def test_only_columns_with_repeated_values_are_dictionary_encoded(tmp_path: Path) -> None:
    rows = b"".join(b"%d,%s\n" % (i, b"abc"[i % 3 : i % 3 + 1]) for i in range(1_000))

    convert(tmp_path, b"id,kind\n" + rows)

    column_encodings = pq.ParquetFile(tmp_path / "out.parquet").metadata.row_group(0)
    encodings = {
        column_encodings.column(i).path_in_schema: column_encodings.column(i).encodings
        for i in range(2)
    }
    assert "RLE_DICTIONARY" in encodings["kind"]
    assert "RLE_DICTIONARY" not in encodings["id"]


def test_stats_from_the_conversion_match_a_later_read_of_the_file(tmp_path: Path) -> None:
    # Stats are counted while converting, over several row groups; reading the stored file
    # again (as a version stored before stats existed is) must describe it the same way.
    rows = ROW_GROUP_ROWS + 5_000
    data = b"n,x,kind,text,flag\n" + b"".join(
        b"%d,%s,%s,%s,%s\n"
        % (
            i,
            b"" if i % 7 == 0 else b"%.3f" % (i * 0.37 % 101),
            b"abcd"[i % 4 : i % 4 + 1],
            b"t%d" % (i % 3000),
            b"true" if i % 5 else b"false",
        )
        for i in range(rows)
    )

    parsed, _ = convert(tmp_path, data)
    profiles, stats = describe_columns(tmp_path / "out.parquet")

    assert parsed.row_count == rows
    assert parsed.columns == profiles
    assert parsed.stats == stats


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("a.csv", None, "csv"),
        ("a.TSV", None, "csv"),
        ("a.jsonl", None, "jsonl"),
        ("a.parquet", None, "parquet"),
        ("upload", "text/csv; charset=utf-8", "csv"),
        ("a.xlsx", "application/octet-stream", None),
    ],
)
def test_detect_format(filename: str, content_type: str | None, expected: str | None) -> None:
    assert detect_format(filename, content_type) == expected


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "sample"
    path.write_bytes(data)
    return path


def _first_invalid_utf8(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    raise AssertionError("the data is valid UTF-8")
