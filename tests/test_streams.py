"""The incremental SSE / NDJSON parsers in battles/streams.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from battles.streams import (
    LineSplitter,
    NDJSONParser,
    SSEEvent,
    SSEParser,
    StreamFormatError,
    loads_json,
)


def feed_all(parser, chunks):
    out = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    out.extend(parser.close())
    return out


def every_split(data: bytes):
    """All ways to cut ``data`` into two chunks, plus one byte at a time."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    yield [data[i:i + 1] for i in range(len(data))]


# -- lines ---------------------------------------------------------------------------------------

def test_lines_all_endings_and_split_crlf():
    data = b"a\r\nb\nc\rd\r\n\r\ne"
    for chunks in every_split(data):
        splitter = LineSplitter()
        lines = []
        for c in chunks:
            lines += splitter.feed(c)
        tail = splitter.close()
        assert lines == ["a", "b", "c", "d", ""], chunks
        assert tail == "e"


def test_lines_utf8_split_across_chunks():
    text = "héllo 日本 😀 👩‍👩‍👧\n"
    data = text.encode()
    for chunks in every_split(data):
        splitter = LineSplitter()
        lines = [line for c in chunks for line in splitter.feed(c)]
        assert lines == [text[:-1]]


def test_lines_bom_dropped_once():
    splitter = LineSplitter()
    assert splitter.feed(b"\xef\xbb") == []
    assert splitter.feed(b"\xbfx\n\xef\xbb\xbfy\n") == ["x", "\ufeffy"]


def test_lines_limit_on_complete_and_pending_lines():
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"12345678\n") == ["12345678"]
    with pytest.raises(StreamFormatError, match="longer than 8 bytes"):
        splitter.feed(b"123456789")  # no newline yet: still refused, never buffered forever
    with pytest.raises(StreamFormatError, match="longer than 8 bytes"):
        splitter.feed(b"\n")  # sticky


def test_lines_invalid_utf8_is_a_format_error():
    splitter = LineSplitter()
    with pytest.raises(StreamFormatError, match="not valid UTF-8"):
        splitter.feed(b"ok\n\xff\xfe\n")


def test_lines_truncated_utf8_at_close_is_a_format_error():
    splitter = LineSplitter()
    splitter.feed(b"ok\n\xe6\x97")
    with pytest.raises(StreamFormatError, match="UTF-8"):
        splitter.close()


def test_lines_rejects_non_bytes():
    with pytest.raises(TypeError):
        LineSplitter().feed("text")  # type: ignore[arg-type]


def test_lines_accepts_bytearray_and_memoryview():
    splitter = LineSplitter()
    assert splitter.feed(bytearray(b"a\n")) + splitter.feed(memoryview(b"b\n")) == ["a", "b"]


# -- SSE -----------------------------------------------------------------------------------------

OPENAI_WIRE = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
    b"event: ping\r\n"
    b"data: first\r\n"
    b"data: second\r\n"
    b"id: 7\r\n"
    b"retry: 1500\r\n\r\n"
    b"data:no-space\n\n"
    b"data\n\n"
    b"event: lonely\n\n"
    b"data: [DONE]\n\n"
)
OPENAI_EVENTS = [
    SSEEvent('{"choices":[{"delta":{"content":"Hi"}}]}'),
    SSEEvent("first\nsecond", event="ping", id="7", retry=1500),
    SSEEvent("no-space", id="7", retry=1500),
    SSEEvent("", id="7", retry=1500),
    SSEEvent("[DONE]", id="7", retry=1500),
]


def test_sse_fields_comments_multiline_any_split():
    for chunks in every_split(OPENAI_WIRE):
        parser = SSEParser()
        assert feed_all(parser, chunks) == OPENAI_EVENTS, chunks
        assert parser.comments == 1
        assert parser.complete


def test_sse_last_event_without_blank_line_is_dispatched():
    parser = SSEParser()
    assert feed_all(parser, [b"data: a\n\ndata: [DONE]\n"]) == [SSEEvent("a"), SSEEvent("[DONE]")]
    assert parser.complete


def test_sse_cut_mid_line_drops_event_and_says_incomplete():
    parser = SSEParser()
    events = feed_all(parser, [b'data: {"a": 1}\n\ndata: {"choi'])
    assert events == [SSEEvent('{"a": 1}')]
    assert not parser.complete


def test_sse_anthropic_events():
    wire = (
        b"event: message_start\n"
        b'data: {"type": "message_start"}\n\n'
        b"event: content_block_delta\n"
        b'data: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hello"}}\n\n'
        b"event: message_stop\n"
        b'data: {"type": "message_stop"}\n\n'
    )
    events = feed_all(SSEParser(), [wire])
    assert [e.event for e in events] == ["message_start", "content_block_delta", "message_stop"]
    assert json.loads(events[1].data)["delta"]["text"] == "Hello"


def test_sse_field_without_colon_and_unknown_fields():
    events = feed_all(SSEParser(), [b"foo: bar\ndata: x\nevent\n\n"])
    assert events == [SSEEvent("x", event="message")]


def test_sse_id_with_nul_ignored_and_bad_retry_ignored():
    events = feed_all(SSEParser(), [b"id: a\x00b\nretry: 12x\ndata: x\n\n"])
    assert events == [SSEEvent("x")]


def test_sse_line_limit():
    parser = SSEParser(max_line=64)
    with pytest.raises(StreamFormatError, match="longer than 64 bytes"):
        parser.feed(b"data: " + b"x" * 100)
    with pytest.raises(StreamFormatError):
        parser.feed(b"\n\n")
    with pytest.raises(StreamFormatError):
        parser.close()


def test_sse_event_limit_across_many_data_lines():
    parser = SSEParser(max_line=64, max_event=100)
    with pytest.raises(StreamFormatError, match="more than 100 bytes"):
        parser.feed(b"data: 0123456789\n" * 20)


def test_sse_invalid_utf8():
    with pytest.raises(StreamFormatError, match="UTF-8"):
        SSEParser().feed(b"data: \xc3\x28\n\n")


def test_sse_lines_counter_counts_comments():
    parser = SSEParser()
    parser.feed(b": keepalive\n: keepalive\n")
    assert parser.lines == 2 and parser.comments == 2


# -- NDJSON --------------------------------------------------------------------------------------

OLLAMA_WIRE = (
    b'{"message":{"role":"assistant","content":"Hel"},"done":false}\n'
    b"\n"
    b'{"message":{"role":"assistant","content":"lo \xf0\x9f\x98\x80"},"done":false}\r\n'
    b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":2}\n'
)


def test_ndjson_any_split():
    for chunks in every_split(OLLAMA_WIRE):
        parser = NDJSONParser()
        objs = feed_all(parser, chunks)
        assert [o["message"]["content"] for o in objs] == ["Hel", "lo 😀", ""]
        assert objs[-1]["done"] is True
        assert parser.complete


def test_ndjson_last_line_without_newline():
    parser = NDJSONParser()
    assert feed_all(parser, [b'{"a": 1}\n{"b": 2}']) == [{"a": 1}, {"b": 2}]
    assert parser.complete


def test_ndjson_cut_last_line_is_incomplete_not_malformed():
    parser = NDJSONParser()
    assert feed_all(parser, [b'{"a": 1}\n{"b": ']) == [{"a": 1}]
    assert not parser.complete


def test_ndjson_malformed_line():
    parser = NDJSONParser()
    with pytest.raises(StreamFormatError, match="line 2 of the stream is not valid JSON"):
        parser.feed(b'{"a": 1}\n{nope}\n{"b": 2}\n')
    with pytest.raises(StreamFormatError):
        parser.feed(b'{"a": 1}\n')


@pytest.mark.parametrize("text", ["[" * 100_000, "1" * 5000, "NaN_", '"\\x"', "{} {}"])
def test_loads_json_hostile_inputs(text):
    with pytest.raises(StreamFormatError):
        loads_json(text)


def test_loads_json_ok():
    assert loads_json('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


# -- robustness: whatever the bytes, events or StreamFormatError ---------------------------------

wire_bytes = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"data: ", b"\r", b"\n", b"\r\n", b":", b"event: x", b"{", b"}", b'"',
                         b"\xf0\x9f", b"\x98\x80", b"[DONE]", b"id: 1", b"retry: 9"]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(wire_bytes)
def test_parsers_never_raise_anything_else(chunks):
    for make in (lambda: SSEParser(max_line=64, max_event=128), lambda: NDJSONParser(max_line=64)):
        parser = make()
        try:
            for chunk in chunks:
                parser.feed(chunk)
            parser.close()
        except StreamFormatError:
            pass


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                        max_size=20), min_size=1, max_size=8),
       st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_sse_roundtrip_any_chunking(datas, cuts):
    wire = b"".join(f"data: {d}\r\n\r\n".encode() for d in datas)
    points = sorted({min(c, len(wire)) for c in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)])]
    events = feed_all(SSEParser(), chunks)
    assert [e.data for e in events] == [d for d in datas]
