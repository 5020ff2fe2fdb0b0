"""Turn an uploaded CSV / JSON Lines / Parquet file into one Parquet file, checking it on the way.

Pure and synchronous (no FastAPI, no database): the service runs it in a worker thread, which
starts two more (see `pipeline`): one parses ahead, one writes row groups, while the calling one
computes the column stats from the same batches. Everything streams batch by batch, so memory
stays bounded by pyarrow's block size and one row group.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from proto.datasets import ColumnStats, DatasetFormat
from services.datasets.column_profiles import ColumnProfile
from services.datasets.column_stats import ColumnsSummary, describe_columns
from services.datasets.pipeline import Background, ReadAhead
from services.datasets.sources import ByteSource, open_source
from services.datasets.text_encoding import UTF8, UTF8_BOM, UndecodableText, detect_text_encoding

CSV_DELIMITERS = ",;\t|"
ROW_GROUP_ROWS = 128 * 1024
READ_AHEAD_BATCHES = 4
# A column is dictionary-encoded when its first row group repeats values this much or more:
# for columns of mostly distinct values the dictionary only costs time (and often size).
_DICTIONARY_MIN_REPEATS = 10
_SNIFF_SAMPLE_BYTES = 64 * 1024
_CONVERSION_ERROR_RE = re.compile(
    r"In CSV column #(\d+):(?: Row #\d+:)? CSV conversion error to (\w+)"
)
_EXTENSIONS: dict[str, DatasetFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
_CONTENT_TYPES: dict[str, DatasetFormat] = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/vnd.apache.parquet": "parquet",
}


class FileRejected(Exception):
    """The file cannot become a dataset; `code` is the API error code, `details` say where."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_columns: int = 1000
    max_rows: int = 5_000_000
    block_size: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParsedDataset:
    """What a converted file holds: its row count, one profile and one set of stats per column.

    `encoding` is the text encoding a CSV source was read in (a Python codec name).
    """

    row_count: int
    columns: list[ColumnProfile] = field(default_factory=list)
    stats: list[ColumnStats] = field(default_factory=list)
    encoding: str | None = None


def detect_format(filename: str, content_type: str | None = None) -> DatasetFormat | None:
    """The format named by the file's extension, or by its content type when it has none."""
    suffix = Path(filename).suffix.lower()
    if suffix:
        return _EXTENSIONS.get(suffix)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media)


def convert_to_parquet(
    source: ByteSource, file_format: DatasetFormat, target: Path, limits: ParseLimits
) -> ParsedDataset:
    """Parse `source`, write it to `target` as Parquet, profile and describe its columns."""
    encoding: str | None = None
    if file_format == "csv":
        encoding = csv_encoding(source)
        written = _convert_csv(source, encoding, target, limits)
    elif file_format == "jsonl":
        with open_source(source) as stream:
            written = _write_batches(_open_jsonl(stream, limits), target, limits)
    else:
        with open_source(source) as stream:
            written = _write_batches(_open_parquet(stream), target, limits)
    if written.row_count == 0:
        raise FileRejected("EMPTY_FILE", "the file has a header but no rows")
    profiles, stats = written.summary.finish(target)
    return ParsedDataset(
        row_count=written.row_count, columns=profiles, stats=stats, encoding=encoding
    )


def describe_parquet(path: Path, row_count: int, encoding: str | None = None) -> ParsedDataset:
    """Profile and stats of every column, in bounded memory."""
    profiles, stats = describe_columns(path)
    return ParsedDataset(row_count=row_count, columns=profiles, stats=stats, encoding=encoding)


# --- CSV -----------------------------------------------------------------------------------


def csv_encoding(source: ByteSource) -> str:
    """The codec the CSV file decodes with; BAD_ENCODING naming the first byte that does not."""
    try:
        return detect_text_encoding(source)
    except UndecodableText as exc:
        known = "" if exc.encoding == UTF8 else f" (it reads as {exc.encoding} until there)"
        raise FileRejected(
            "BAD_ENCODING",
            f"the file is not text in a known encoding: invalid byte at offset "
            f"{exc.byte_offset}{known}",
            byte_offset=exc.byte_offset,
            encoding=exc.encoding,
        ) from exc


def sniff_delimiter(sample: str) -> str:
    """The delimiter among , ; TAB | that the sample's lines agree on; ',' when undecidable."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line in half
    text = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(text, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in CSV_DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_sample(source: ByteSource, encoding: str) -> str:
    with open_source(source) as handle:
        raw = handle.read(_SNIFF_SAMPLE_BYTES)
    return raw.decode(encoding, errors="ignore")


def _convert_csv(source: ByteSource, encoding: str, target: Path, limits: ParseLimits) -> _Written:
    sample = _read_sample(source, encoding)
    if not sample.strip():
        raise FileRejected("EMPTY_FILE", "the file is empty")
    delimiter = sniff_delimiter(sample)
    column_types: dict[str, pa.DataType] = {}
    # A column typed from the first block may meet a value that does not fit later on:
    # widen that column (int -> float -> string) and convert again.
    while True:
        try:
            with open_source(source) as stream:
                return _write_batches(
                    _open_csv(stream, encoding, delimiter, column_types, limits), target, limits
                )
        except pa.ArrowInvalid as exc:
            match = _CONVERSION_ERROR_RE.search(str(exc))
            if match is None:
                raise _csv_rejection(exc) from exc
            name = _csv_column_names(source, encoding, delimiter)[int(match.group(1))]
            if column_types.get(name) == pa.string():
                raise _csv_rejection(exc) from exc  # cannot widen further; never loop
            column_types[name] = pa.float64() if match.group(2) == "int64" else pa.string()


def _csv_column_names(source: ByteSource, encoding: str, delimiter: str) -> list[str]:
    with open_source(source) as stream:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(encoding=_arrow_encoding(encoding)),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter),
        )
    names: list[str] = reader.schema.names
    return names


def _arrow_encoding(codec: str) -> str:
    """pyarrow reads UTF-8 (skipping a BOM) natively and transcodes other codecs as it streams."""
    return "utf8" if codec in (UTF8, UTF8_BOM) else codec


def _open_csv(
    source: BinaryIO,
    encoding: str,
    delimiter: str,
    column_types: dict[str, pa.DataType],
    limits: ParseLimits,
) -> pa.RecordBatchReader:
    try:
        return pa_csv.open_csv(
            source,
            # One thread keeps physical row numbers, so a ragged row can be named.
            read_options=pa_csv.ReadOptions(
                use_threads=False, block_size=limits.block_size, encoding=_arrow_encoding(encoding)
            ),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=column_types, strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        if _CONVERSION_ERROR_RE.search(str(exc)):
            raise  # widened by the caller
        raise _csv_rejection(exc) from exc


def _csv_rejection(exc: pa.ArrowInvalid) -> FileRejected:
    message = str(exc)
    ragged = re.search(r"Row #(\d+): Expected (\d+) columns, got (\d+)", message)
    if ragged:
        row, expected, got = (int(g) for g in ragged.groups())
        return FileRejected(
            "CSV_RAGGED",
            f"row {row} has {got} fields, the header has {expected}",
            row=row,
            expected_fields=expected,
            fields=got,
        )
    if "Empty CSV file" in message:
        return FileRejected("EMPTY_FILE", "the file is empty")
    return FileRejected("CSV_INVALID", f"the CSV file cannot be read: {message}")


# --- JSON Lines and Parquet ----------------------------------------------------------------


def _open_jsonl(source: BinaryIO, limits: ParseLimits) -> pa.RecordBatchReader:
    try:
        return pa_json.open_json(
            source,
            read_options=pa_json.ReadOptions(use_threads=False, block_size=limits.block_size),
        )
    except pa.ArrowInvalid as exc:
        raise _json_rejection(exc) from exc


def _json_rejection(exc: pa.ArrowInvalid) -> FileRejected:
    if "Empty JSON file" in str(exc):
        return FileRejected("EMPTY_FILE", "the file is empty")
    return FileRejected("JSONL_INVALID", f"the JSON Lines file cannot be read: {exc}")


def _open_parquet(source: BinaryIO) -> pa.RecordBatchReader:
    try:
        parquet = pq.ParquetFile(source)
        return pa.RecordBatchReader.from_batches(
            parquet.schema_arrow, parquet.iter_batches(batch_size=64 * 1024)
        )
    except FileNotFoundError:
        raise  # a chunk removed meanwhile (another complete won): not the file's fault
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileRejected("PARQUET_INVALID", f"the Parquet file cannot be read: {exc}") from exc


# --- writing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Written:
    row_count: int
    summary: ColumnsSummary


def _write_batches(reader: pa.RecordBatchReader, target: Path, limits: ParseLimits) -> _Written:
    """Write the reader's batches as Parquet row groups, counting column stats on the way."""
    schema = reader.schema
    _check_columns(schema, limits)
    summary = ColumnsSummary(schema)
    rows = 0
    with (
        ReadAhead(_batches(reader), READ_AHEAD_BATCHES) as batches,
        _ParquetOutput(target, schema) as output,
    ):
        for table in _row_groups(batches, schema, limits):
            output.write(table)
            summary.add(table)
            rows += table.num_rows
    return _Written(rows, summary)


def _row_groups(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, limits: ParseLimits
) -> Iterator[pa.Table]:
    """Small parse blocks keep memory low; row groups of ROW_GROUP_ROWS keep reads cheap."""
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        rows += batch.num_rows
        if rows > limits.max_rows:
            raise FileRejected(
                "TOO_MANY_ROWS",
                f"the file has more than {limits.max_rows} rows",
                max_rows=limits.max_rows,
            )
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= ROW_GROUP_ROWS:
            yield pa.Table.from_batches(pending, schema)
            pending, pending_rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema)


class _ParquetOutput:
    """A Parquet file written one row group at a time on a background thread.

    The writer is opened with the first row group, which decides the columns to
    dictionary-encode; a file with no rows still gets written, with its schema.
    """

    def __init__(self, target: Path, schema: pa.Schema) -> None:
        self._target = target
        self._schema = schema
        self._writer: pq.ParquetWriter | None = None
        self._background: Background[None] = Background("parquet-writer")

    def __enter__(self) -> _ParquetOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self._background.wait()
        finally:
            self._background.close()
            self._open(None).close()

    def write(self, table: pa.Table) -> None:
        writer = self._open(table)
        self._background.submit(lambda: writer.write_table(table))

    def _open(self, first: pa.Table | None) -> pq.ParquetWriter:
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._target,
                self._schema,
                compression="zstd",
                use_dictionary=[] if first is None else _dictionary_columns(first),
            )
        return self._writer


def _dictionary_columns(table: pa.Table) -> list[str]:
    """The flat columns whose values repeat enough in `table` to be worth a dictionary."""
    return [
        column.name
        for column in table.schema
        if not pa.types.is_nested(column.type) and _repeats_enough(table.column(column.name))
    ]


def _repeats_enough(values: pa.ChunkedArray) -> bool:
    try:
        distinct: int = pc.count_distinct(values).as_py()
    except pa.ArrowNotImplementedError:
        return True  # a type with no distinct count (null, dictionary): as pyarrow would
    return distinct * _DICTIONARY_MIN_REPEATS <= len(values)


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            if _CONVERSION_ERROR_RE.search(str(exc)):
                raise  # the CSV converter widens the column and tries again
            if "JSON" in str(exc):
                raise _json_rejection(exc) from exc
            if "CSV" in str(exc):
                raise _csv_rejection(exc) from exc
            raise FileRejected("FILE_INVALID", f"the file cannot be read: {exc}") from exc
        if batch.num_rows:
            yield batch


def _check_columns(schema: pa.Schema, limits: ParseLimits) -> None:
    if len(schema) > limits.max_columns:
        raise FileRejected(
            "TOO_MANY_COLUMNS",
            f"the file has {len(schema)} columns, at most {limits.max_columns} are allowed",
            max_columns=limits.max_columns,
            columns=len(schema),
        )
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise FileRejected("DUPLICATE_COLUMN", f"column {name!r} appears twice", column=name)
        seen.add(name)
