"""The JSON record readers: msgspec's fast path must read exactly what the standard library
reads (values, line numbers, errors), whatever the layout of the file and where the chunks
fall; records msgspec refuses go the standard library's way."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from battles.importing import jsonstream
from battles.importing.errors import BadRecord
from battles.importing.jsonstream import iter_json_array, iter_json_lines

# Layouts real files use: one record per line, FastChat's indent=2, json.dumps' default, compact.
LAYOUTS = {
    "one per line": lambda records: "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n",
    "indent=2": lambda records: json.dumps(records, indent=2),
    "default": lambda records: json.dumps(records),
    "compact": lambda records: json.dumps(records, separators=(",", ":")),
}
# Text that looks like a record separator, inside strings and nested lists of objects.
TRICKY_TEXT = st.sampled_from(["}, {", "},{", '"}, {"', "},\n{", "]", "[", ",", "\\", "\u00e9", "\U0001F600"])
TEXT = st.lists(st.one_of(TRICKY_TEXT, st.text(max_size=8)), max_size=4).map("".join)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(allow_nan=False), TEXT)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=12)
RECORD = st.dictionaries(TEXT, VALUE, max_size=5)


def read_array(text: str, *, fast: bool = True) -> list:
    """(line, value) of every record, or the error message."""
    saved = jsonstream._MAX_MISSES
    jsonstream._MAX_MISSES = saved if fast else 0  # 0: never learn a separator, the standard library only
    try:
        return list(iter_json_array(io.StringIO(text)))
    except ValueError as exc:
        return [str(exc)]
    finally:
        jsonstream._MAX_MISSES = saved


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(jsonstream, "CHUNK_CHARS", 97)  # many records cut at a chunk edge


@pytest.fixture
def fast_calls(monkeypatch) -> list:
    calls = []
    decode = jsonstream._fast_decode

    def counting_decode(data):
        calls.append(len(data))
        return decode(data)

    monkeypatch.setattr(jsonstream, "_fast_decode", counting_decode)
    return calls


@settings(max_examples=150, deadline=None)
@given(records=st.lists(RECORD, max_size=12), layout=st.sampled_from(sorted(LAYOUTS)),
       chunk=st.sampled_from([7, 61, 1 << 20]))
def test_the_fast_path_reads_what_the_standard_library_reads(records, layout, chunk):
    text = LAYOUTS[layout](records)
    saved = jsonstream.CHUNK_CHARS
    jsonstream.CHUNK_CHARS = chunk
    try:
        fast, slow = read_array(text), read_array(text, fast=False)
    finally:
        jsonstream.CHUNK_CHARS = saved
    assert fast == slow
    assert [value for _, value in fast] == json.loads(text)


@pytest.mark.parametrize("layout", ["one per line", "indent=2"])
def test_records_laid_out_alike_go_the_fast_way(layout, fast_calls):
    records = [{"model_a": "a", "model_b": "b", "winner": "tie", "n": i,
                "conversation_a": [{"role": "user", "content": "x, {y}"}, {"role": "assistant", "content": "z"}]}
               for i in range(500)]
    text = LAYOUTS[layout](records)
    assert [value for _, value in read_array(text)] == records
    assert len(fast_calls) >= 490  # all but the first record and the last


def test_line_numbers_are_where_each_record_starts():
    text = LAYOUTS["indent=2"]([{"a": [1, 2]}, {"b": {"c": 3}}, {"d": 4}])
    starts = [number for number, line in enumerate(text.splitlines(), start=1) if line == "  {"]
    assert [line for line, _ in read_array(text)] == starts


def test_a_whole_number_beyond_64_bits_stays_exact():
    big = 2**70 + 1
    text = LAYOUTS["one per line"]([{"id": i} for i in range(5)] + [{"id": big}, {"id": -big}, {"id": 6}])
    assert [value["id"] for _, value in read_array(text)] == [0, 1, 2, 3, 4, big, -big, 6]


def test_what_only_the_standard_library_accepts_is_still_read():
    text = "[\n" + ",\n".join(['{"a": 1}', '{"a": 2}', '{"a": NaN}', '{"a": "\\ud800"}', '{"a": 1e400}',
                               '{"a": 3}']) + "\n]"
    values = [value for _, value in read_array(text)]
    assert values[:2] == [{"a": 1}, {"a": 2}] and values[2]["a"] != values[2]["a"]  # NaN
    assert values[4] == {"a": float("inf")} and values[5] == {"a": 3}
    # A lone surrogate is not text (it could never be stored as UTF-8): a bad record, not a crash.
    assert isinstance(values[3], BadRecord) and "lone surrogate" in str(values[3])


@pytest.mark.parametrize("broken, message", [
    ('{"a": 1,}', "line 5: invalid JSON"),
    ('{"a": tru}', "line 5: invalid JSON"),
    ('{"a": "x', "line 5: invalid JSON"),
])
def test_a_syntax_error_after_many_good_records_names_its_line(broken, message, small_chunks):
    text = "[\n" + ",\n".join(['{"a": 1}', '{"a": 2}', '{"a": 3}', broken, '{"a": 5}']) + "\n]"
    result = read_array(text)
    assert result == read_array(text, fast=False)
    assert len(result) == 1 and result[0].startswith(message)


def test_a_file_whose_layout_changes_midway_is_read_whole(fast_calls):
    head = [{"n": i, "inner": [{"k": 1}, {"k": 2}]} for i in range(300)]
    tail = [{"n": i, "inner": [{"k": 1}, {"k": 2}]} for i in range(300, 600)]
    text = LAYOUTS["one per line"](head)[:-3] + ", " + LAYOUTS["default"](tail)[1:]
    assert [value for _, value in read_array(text)] == head + tail


def test_json_lines_read_like_the_standard_library():
    lines = [b'{"a": 1}', b'{"a": 18446744073709551617}', b'{"a": NaN}', b'{"a": 1,}', b"\xff\xfe", b"[1, 2]",
             b'{"a": "\\udc00"}']
    got = list(iter_json_lines(io.BytesIO(b"\n".join(lines) + b"\n")))
    assert [line for line, _ in got] == [1, 2, 3, 4, 5, 6, 7]
    assert isinstance(got[6][1], BadRecord) and "lone surrogate" in str(got[6][1])
    assert got[0][1] == {"a": 1} and got[1][1] == {"a": 18446744073709551617} and got[5][1] == [1, 2]
    assert got[2][1]["a"] != got[2][1]["a"]  # NaN, as json.loads reads it
    assert isinstance(got[3][1], BadRecord) and "invalid JSON" in str(got[3][1])
    assert isinstance(got[4][1], BadRecord) and "not UTF-8" in str(got[4][1])
