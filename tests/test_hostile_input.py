"""Hostile and broken input: every parser either parses cleanly or raises its documented,
readable error; never another exception, never a hang, never a partial write.

Covered: the SSE and NDJSON stream parsers, style feature extraction, every import format,
providers that stream forever, trickle, stall or answer HTML, and model output carrying
terminal escapes or Rich markup (headless output and the Textual app).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import random
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from battles.config import ArenaConfig, Config, ModelConfig
from battles.engine import LENGTH_CAP, Arena
from battles.errors import BlindsideError
from battles.features import STYLE_FEATURE_NAMES, style_features
from battles.importing import ImportFileError, StrictImportError, import_file
from battles.store import ResponseRecord, Store
from battles.streams import NDJSONParser, SSEParser, StreamFormatError
from tests.app_harness import make_app, rendered_lines, send_prompt, wait_phase
from tests.helpers_reliability import (
    ARENA_VOTES_CSV,
    assert_no_traceback,
    child_env,
    fake_config_toml,
    run_cli,
    time_limit,
)
from tests.helpers_reliability import fake_model as fake_model_fields

# Derandomized: CI sees the same examples every run (no flaky red), and no example database
# is written into the working tree.
FUZZ = settings(max_examples=150, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
TEN_MB = 10 << 20

# -- the stream parsers -------------------------------------------------------------------------

SSE_PIECES = st.sampled_from([
    b"data: ", b"data:", b"event: ", b"id: ", b"retry: ", b": comment", b"\n", b"\r\n", b"\r", b"\n\n",
    b'{"choices":[{"delta":{"content":"hi"}}]}', b"[DONE]", b"\xff", b"\xe2\x82", b"\xac", b"\x00",
    b"\xef\xbb\xbf", b"data: \xf0\x9f\x98", b"\x80", b"{", b"}", b"]", b"[",
])
STREAM_BYTES = st.one_of(
    st.binary(max_size=4000),
    st.lists(SSE_PIECES, max_size=80).map(b"".join),
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return chunks


def run_parser(parser, chunks: list[bytes]):
    """('ok', events) or ('error', message): nothing else may come out."""
    events = []
    try:
        for chunk in chunks:
            events.extend(parser.feed(chunk))
        events.extend(parser.close())
    except StreamFormatError as exc:
        assert str(exc), "an error without a message"
        return "error", str(exc)
    return "ok", events


@FUZZ
@given(data=STREAM_BYTES, cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_the_sse_parser_parses_or_says_why_whatever_the_bytes_and_chunking(data, cuts):
    with time_limit(5):
        whole = run_parser(SSEParser(max_line=1024, max_event=4096), [data])
        split = run_parser(SSEParser(max_line=1024, max_event=4096), split_at(data, cuts))
    # Where a chunk ends never changes what the stream means.
    assert whole[0] == split[0]
    if whole[0] == "ok":
        assert whole[1] == split[1]
        assert all(isinstance(e.data, str) for e in whole[1])


@FUZZ
@given(data=STREAM_BYTES, cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_the_ndjson_parser_parses_or_says_why_whatever_the_bytes_and_chunking(data, cuts):
    with time_limit(5):
        whole = run_parser(NDJSONParser(max_line=1024), [data])
        split = run_parser(NDJSONParser(max_line=1024), split_at(data, cuts))
    assert whole[0] == split[0]
    if whole[0] == "ok":
        assert whole[1] == split[1]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(values=st.lists(JSON_VALUES, max_size=10))
def test_the_ndjson_parser_gives_back_any_json_values_it_is_sent(values):
    wire = b"".join(json.dumps(v).encode() + b"\n" for v in values)
    status, events = run_parser(NDJSONParser(), split_at(wire, [3, 17, 50]))
    assert status == "ok" and events == values


@pytest.mark.parametrize("parser_class", [SSEParser, NDJSONParser])
def test_a_ten_megabyte_line_is_refused_without_buffering_it_all(parser_class):
    parser = parser_class()
    piece = b"x" * (64 << 10)
    fed = 0
    with time_limit(10), pytest.raises(StreamFormatError, match="longer than"):
        for _ in range(TEN_MB // len(piece)):
            parser.feed(b"data: " + piece if parser_class is SSEParser and fed == 0 else piece)
            fed += len(piece)
    assert fed <= (1 << 20) + len(piece), "it buffered past its 1 MiB line limit"
    with pytest.raises(StreamFormatError):  # spent: it says so again rather than half-parse
        parser.feed(b"\n")


def test_deeply_nested_json_on_a_stream_is_a_clear_error_not_a_recursion_crash():
    deep = b"[" * 200_000 + b"]" * 200_000
    parser = NDJSONParser(max_line=1 << 20)
    with time_limit(10), pytest.raises(StreamFormatError, match="nested too deeply|not valid JSON"):
        parser.feed(deep + b"\n")


def test_invalid_utf8_on_a_stream_is_a_clear_error():
    parser = SSEParser()
    with pytest.raises(StreamFormatError, match="UTF-8"):
        parser.feed(b'data: {"x": "\xed\xa0\x80"}\n\n')


# -- style features -----------------------------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(max_size=2000),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=500),  # lone surrogates too
    st.lists(st.sampled_from(["# h\n", "**b**", "- i\n", "1. x\n", "```\n", "~~~", "`", "😀", "👩‍👩‍👧",
                              "\u200d", "\ufe0f", "!", "![", "\r\n", "\r", "__u__", "\x1b[2J", "🇫🇷"]),
             max_size=200).map("".join),
)


@FUZZ
@given(text=ANY_TEXT, tokens=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)))
def test_style_features_are_whole_numbers_for_any_text(text, tokens):
    with time_limit(5):
        features = style_features(text, tokens)
    assert set(features) == set(STYLE_FEATURE_NAMES)
    assert all(type(v) is int and v >= 0 for v in features.values())
    if tokens is not None:
        assert features["tokens"] == tokens


@pytest.mark.parametrize("tokens", [-1, 1.5, "12", True])
def test_style_features_refuse_a_nonsense_token_count_with_a_value_error(tokens):
    with pytest.raises(ValueError):
        style_features("hello", tokens)


def test_style_features_of_ten_megabytes_finish_quickly():
    rng = random.Random(3)
    text = "".join(rng.choice(["word ", "**b** ", "# h\n", "- x\n", "😀", "```\n", "\n"]) for _ in range(2_000_000))
    text = text[:TEN_MB]
    with time_limit(30):
        features = style_features(text)
    assert features["chars"] == len(text)


# -- importers ----------------------------------------------------------------------------------

WINNER_LIKE = st.sampled_from(["model_a", "model_b", "tie", "tie (bothbad)", "both_bad", "", "A", None, 1])
ARENA_RECORD = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=10), st.integers(), st.none()),
        "question_id": st.one_of(st.text(max_size=10), st.integers()),
        "model_a": st.one_of(st.sampled_from(["m1", "m2", "m3"]), st.text(max_size=5), st.integers(), st.none()),
        "model_b": st.one_of(st.sampled_from(["m1", "m2", "m3"]), st.text(max_size=5), st.lists(st.integers())),
        "winner": WINNER_LIKE,
        "tstamp": st.one_of(st.floats(), st.integers(), st.text(max_size=5), st.none()),
        "judge": st.one_of(st.text(max_size=5), st.integers(), st.none()),
        "language": JSON_VALUES,
        "anony": st.one_of(st.booleans(), st.text(max_size=3), st.none()),
        "category_tag": JSON_VALUES,
        "conversation_a": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "x", 3]), "content": JSON_VALUES}), max_size=4)),
        "conversation_b": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant"]), "content": st.text(max_size=30)}), max_size=4)),
        "conv_metadata": st.one_of(JSON_VALUES, st.dictionaries(
            st.sampled_from(["sum_assistant_a_tokens", "header_count_a", "list_count_b", "bold_count_a"]),
            st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                       st.integers()))))
    },
)


def _jsonl(values) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


def _csv_cell(value) -> str:
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


IMPORT_FILES = st.one_of(
    st.binary(max_size=3000),
    st.lists(ARENA_RECORD, max_size=15).map(lambda rs: json.dumps(rs).encode()),
    st.lists(ARENA_RECORD, max_size=15).map(_jsonl),
    st.lists(JSON_VALUES, max_size=10).map(_jsonl),
    st.lists(st.lists(st.one_of(WINNER_LIKE, st.text(max_size=6)), min_size=0, max_size=6), max_size=15).map(
        lambda rows: ("id,model_a,model_b,winner\n" + "\n".join(",".join(_csv_cell(c) for c in r) for r in rows))
        .encode("utf-8", "surrogatepass")),
    st.lists(JSON_VALUES, max_size=10).map(lambda vs: _jsonl([{"blindside_export": 1}, *vs])),
    st.lists(st.dictionaries(st.sampled_from(["id", "status", "model_a", "model_b", "vote", "responses",
                                              "created", "turns", "features_a", "swapped"]), JSON_VALUES),
             max_size=8).map(lambda vs: _jsonl([{"blindside_export": 1}, *vs])),
    st.lists(ARENA_RECORD, max_size=10).map(lambda rs: gzip.compress(json.dumps(rs).encode())),
    st.lists(ARENA_RECORD, min_size=1, max_size=10).map(lambda rs: gzip.compress(json.dumps(rs).encode())[:-6]),
)


def database_fingerprint(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


_TEMPLATE_DIR = tempfile.TemporaryDirectory(prefix="hostile-")


def seeded_store(path: Path) -> Store:
    """A store holding one voted battle (copied from a template: creating one per example is slow)."""
    template = Path(_TEMPLATE_DIR.name) / "template.db"
    if not template.exists():
        with Store(template) as store:
            battle_id = store.begin_battle(model_a="m1", model_b="m2", prompt="before")
            store.save_turn(battle_id, 1, "before", ResponseRecord(text="x"), ResponseRecord(text="y"))
            store.finish_battle(battle_id, status="complete", identity_leak=False, features_a={}, features_b={})
            store.record_vote(battle_id, "tie", "someone")
    shutil.copyfile(template, path)
    return Store(path)


def try_import(content: bytes, strict: bool, name: str = "votes.data"):
    """Import ``content``; assert the promise; return the report or the error."""
    with tempfile.TemporaryDirectory() as tmp:
        db, source = Path(tmp) / "votes.db", Path(tmp) / name
        source.write_bytes(content)
        with seeded_store(db) as store:
            before_counts = store.counts()
            before = database_fingerprint(db)
            try:
                with time_limit(20):
                    report = import_file(store, source, strict=strict)
            except BlindsideError as exc:
                assert str(exc).strip(), "an error without a message"
                assert "Traceback" not in str(exc)
                assert database_fingerprint(db) == before, "a failed import changed the database"
                return exc
            after = store.counts()
        assert after["battles"] == before_counts["battles"] + report.added
        assert report.added + report.already_present + report.bad_rows >= 0
        if strict:
            assert report.bad_rows == 0
        return report


@settings(FUZZ, deadline=5000)
@given(content=IMPORT_FILES, strict=st.booleans())
def test_every_importer_parses_or_refuses_cleanly_and_never_writes_half(content, strict):
    try_import(content, strict)


def test_a_strict_import_with_one_bad_row_is_rolled_back_entirely():
    good = [{"id": f"g{i}", "model_a": "m1", "model_b": "m2", "winner": "model_a"} for i in range(500)]
    records = good[:250] + [{"id": "bad", "model_a": "m1", "winner": "model_b"}] + good[250:]
    error = try_import(json.dumps(records).encode(), strict=True, name="arena.json")
    assert isinstance(error, StrictImportError)
    assert "line" in str(error) and "nothing was imported" in str(error)
    report = try_import(json.dumps(records).encode(), strict=False, name="arena.json")
    assert report.added == 500 and report.bad_rows == 1


REFUSED = "refused"  # the whole file is refused with an ImportFileError


PATHOLOGICAL_FILES = [
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, REFUSED),
    ("deep.jsonl", b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n", REFUSED),
    ("deep-second-line.jsonl", b'{"id":"1","model_a":"m1","model_b":"m2","winner":"tie"}\n'
     + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n", (1, 1)),
    ("deep-record.json", b'[{"id":"1","model_a":"m1","model_b":"m2","winner":"tie","x":'
     + b"[" * 50_000 + b"]" * 50_000 + b"}]", REFUSED),
    ("huge-line.jsonl", b'{"id":"1","model_a":"m1","model_b":"m2","winner":"tie","note":"' + b"x" * TEN_MB
     + b'"}\n', (1, 0)),
    ("huge-line-broken.jsonl", b'{"id":"1","model_a":"' + b"x" * TEN_MB + b"\n", REFUSED),
    ("huge-cell.csv", b"id,model_a,model_b,winner\n1,m1,m2," + b"y" * TEN_MB + b"\n", (0, 1)),
    ("huge-winner.json", b'[{"id":"1","model_a":"m1","model_b":"m2","winner":"' + b"w" * TEN_MB + b'"}]', (0, 1)),
    ("latin1.csv", "id,model_a,model_b,winner\n1,caf\u00e9,m2,tie\n".encode("latin-1"), REFUSED),
    ("truncated.json.gz", gzip.compress(b'[{"id":"1","model_a":"m1","model_b":"m2","winner":"tie"}]' * 50)[:40],
     REFUSED),
    ("empty.json", b"", REFUSED),
    # A lone surrogate escape is valid JSON but not text: that record is a bad row.
    ("lone-surrogate.json", b'[{"id":"1","model_a":"m1","model_b":"m2","winner":"tie"},'
     b'{"id":"2","model_a":"m\\ud800","model_b":"m2","winner":"tie"}]', (1, 1)),
    ("lone-surrogate.jsonl", b'{"id":"1","model_a":"m1","model_b":"m2","winner":"tie"}\n'
     b'{"id":"2","model_a":"m1","model_b":"m2","winner":"tie","note":"\\udc00"}\n', (1, 1)),
    ("nul.json", b"\x00" * 1000, REFUSED),
]


@pytest.mark.parametrize("name, content, expected", PATHOLOGICAL_FILES, ids=[f[0] for f in PATHOLOGICAL_FILES])
def test_pathological_import_files_get_a_clear_answer(name, content, expected):
    result = try_import(content, strict=False, name=name)
    if expected == REFUSED:
        assert isinstance(result, ImportFileError), result
        message = str(result)
    else:
        assert not isinstance(result, BlindsideError), result
        assert (result.added, result.bad_rows) == expected
        message = "\n".join(str(row) for row in result.first_bad_rows)
    # A message a person can read: it says what is wrong without pasting megabytes of the file.
    assert len(message) < 2000, f"a {len(message):,}-character message"


def test_the_real_arena_votes_file_head_imports_cleanly(tmp_path):
    head = gzip.open(ARENA_VOTES_CSV, "rb").read(200_000)
    head = head[: head.rfind(b"\n") + 1]
    report = try_import(gzip.compress(head), strict=True, name="arena.csv.gz")
    assert not isinstance(report, BlindsideError), report
    assert report.added == head.count(b"\n") - 1


# -- providers that never end, trickle, stall or answer HTML --------------------------------------

PROTOCOLS = ["openai", "ollama", "anthropic"]


async def one_battle(store: Store, a: ModelConfig, b: ModelConfig, *, limit: float):
    """Run a battle of a (Model A) against b; fail if it takes longer than ``limit`` seconds."""
    async with Arena(Config(models={a.name: a, b.name: b}), store, seed=0) as arena:
        battle = arena.start("Say something.", models=(a.name, b.name))
        started = time.monotonic()
        try:
            await asyncio.wait_for(battle.run(), timeout=limit)
        except asyncio.TimeoutError:
            pytest.fail(f"the battle was still streaming after {limit} s: nothing cut it")
        return battle, time.monotonic() - started


def assert_anonymous_reason(reason: str | None, model: ModelConfig, fake) -> None:
    assert reason, "a failed side must say why"
    for secret in ("127.0.0.1", str(fake.port), model.model, model.name, model.provider):
        assert secret.lower() not in reason.lower(), f"{secret!r} named before the vote: {reason!r}"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as opened:
        yield opened


@pytest.mark.parametrize("provider", PROTOCOLS)
async def test_a_provider_that_streams_forever_is_cut_at_the_response_cap(provider, store, fake_model):
    endless = fake_model("fake:infinite", provider=provider, name="endless", max_chars=3000, timeout=5)
    other = fake_model("fake:tokens=5", provider=provider, name="other")
    battle, elapsed = await one_battle(store, endless, other, limit=15)
    assert elapsed < 10
    a = battle.results["a"]
    assert a.finish_reason == LENGTH_CAP and a.error is None
    assert len(a.text) == 3000
    assert battle.status == "complete"
    stored = store.battle(battle.id)["responses"]
    assert len(next(r for r in stored if r["side"] == "a")["text"]) == 3000


async def test_a_slow_endless_stream_is_cut_at_the_cap_too(store, fake_model):
    slow = fake_model("fake:infinite,rate=200", name="slow", max_chars=400, timeout=5)
    battle, elapsed = await one_battle(store, slow, fake_model("fake:tokens=3", name="other"), limit=15)
    assert elapsed < 10
    assert battle.results["a"].finish_reason == LENGTH_CAP
    assert len(battle.results["a"].text) == 400


@pytest.mark.parametrize("provider", PROTOCOLS)
@pytest.mark.parametrize("spec, timeout", [
    ("fake:tokens=20,trickle@3,gap=0.25", 1.0),  # bytes keep coming, but no line completes
    ("fake:tokens=20,trickle@3,gap=3", 0.5),  # one byte every 3 s: the read timeout
    ("fake:tokens=20,stall@3", 0.5),  # nothing more, connection left open
    ("fake:tokens=20,ttft=30", 0.5),  # headers, then silence before the first token
    ("fake:wait=30", 0.5),  # not even response headers
])
async def test_a_provider_that_trickles_or_stalls_is_cut_by_the_timeout(provider, spec, timeout, store,
                                                                       fake_model, fake_provider):
    slow = fake_model(spec, provider=provider, name="trickler", timeout=timeout)
    battle, elapsed = await one_battle(store, slow, fake_model("fake:tokens=3", provider=provider, name="other"),
                                       limit=timeout + 8)
    a = battle.results["a"]
    assert a.error and ("stalled" in a.error or "no answer" in a.error or "within" in a.error), a.error
    assert_anonymous_reason(a.error, slow, fake_provider)
    assert battle.status == "error"
    assert battle.results["b"].error is None  # the other side is not dragged down
    assert elapsed < timeout + 5


@pytest.mark.parametrize("provider", PROTOCOLS)
@pytest.mark.parametrize("spec, words", [
    ("fake:html", "HTML"),
    ("fake:html,status=502", "502"),
    ("fake:html,status=404", "404"),
    ("fake:bigline", "malformed"),
    ("fake:badutf8@2", "malformed"),
    ("fake:malformed@2", "malformed"),
    ("fake:empty", "empty"),
    ("fake:cut@3", "cut off"),
    ("fake:drop", "closed"),
])
async def test_a_provider_that_answers_garbage_gets_a_clear_anonymous_error(provider, spec, words, store,
                                                                             fake_model, fake_provider):
    broken = fake_model(spec, provider=provider, name="broken", timeout=5)
    battle, _ = await one_battle(store, broken, fake_model("fake:tokens=3", provider=provider, name="other"),
                                 limit=20)
    a = battle.results["a"]
    assert a.error and words.lower() in a.error.lower(), a.error
    assert_anonymous_reason(a.error, broken, fake_provider)
    assert battle.status == "error"
    assert store.battle(battle.id)["status"] == "error"


# -- model output with terminal escapes and Rich markup: shown as text, never interpreted ------------

HOSTILE_ANSWER = ("Hi [bold red]RED[/bold red] [link=https://evil.example]click[/link] :warning: "
                  "\x1b[2J\x1b[H cleared? \x1b]0;pwned-title\x07 \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ "
                  "\x9b31m c1 \u202eevil\u202c \x08\x08 \r over \x00 end")
# What must never reach a terminal from model text: C0 controls (but tab and newline), DEL, C1
# controls, and the bidi overrides that reorder what is displayed.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_config(tmp_path, fake_provider) -> Path:
    models = {
        "hostile": fake_model_fields(fake_provider, "openai", "fake:say=" + quote(HOSTILE_ANSWER, safe="")),
        "echoer": fake_model_fields(fake_provider, "ollama", "fake:text=echo"),
    }
    path = tmp_path / "blindside.toml"
    path.write_text(fake_config_toml(models), encoding="utf-8")
    return path


def test_headless_battle_prints_escapes_and_markup_as_visible_text(tmp_path, fake_provider):
    config = hostile_config(tmp_path, fake_provider)
    prompt = "Repeat: [bold]x[/bold] \x1b[31mred\x1b[0m \x07"
    done = run_cli("battle", "--prompt", prompt, "--models", "hostile,echoer", "--config", str(config),
                   "--db", str(tmp_path / "v.db"), env=child_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done.stderr)
    out = done.stdout
    bad = sorted({hex(ord(c)) for c in FORBIDDEN.findall(out.replace("\r\n", "\n"))})
    assert not bad, f"control characters reached the terminal: {bad}"
    assert "[bold red]RED[/bold red]" in out and "[link=https://evil.example]click[/link]" in out
    assert "[bold]x[/bold]" in out  # the echoed prompt too
    assert re.search(r"\\x1b\[2J|␛\[2J", out), "the escape should be shown, visibly"


def test_headless_battle_json_keeps_the_answer_exact_and_escaped(tmp_path, fake_provider):
    config = hostile_config(tmp_path, fake_provider)
    done = run_cli("battle", "--prompt", "go", "--models", "hostile,echoer", "--json", "--config", str(config),
                   "--db", str(tmp_path / "v.db"), env=child_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout  # JSON escapes them
    out = json.loads(done.stdout)
    assert out["sides"]["a"]["text"] == HOSTILE_ANSWER


def hostile_app_config(fake_provider) -> Config:
    hostile = ModelConfig(name="hostile", provider="openai", model="fake:say=" + quote(HOSTILE_ANSWER, safe=""),
                          base_url=fake_provider.openai_url)
    echoer = ModelConfig(name="echoer", provider="ollama", model="fake:text=echo", base_url=fake_provider.url)
    return Config(arena=ArenaConfig(voter="tester", pairing="uniform"), models={"hostile": hostile, "echoer": echoer})


def forbidden_on_screen(app) -> list[str]:
    """Control characters in what the app hands the terminal (the compositor's segments)."""
    strips = app.screen._compositor.render_strips()
    return sorted({hex(ord(c)) for strip in strips for seg in strip for c in FORBIDDEN.findall(seg.text)})


async def test_the_app_shows_escapes_and_markup_in_answers_as_text(fake_provider, tmp_path):
    app = make_app(hostile_app_config(fake_provider), tmp_path / "v.db")
    async with app.run_test(size=(160, 50)) as pilot:
        await send_prompt(pilot, "Echo [bold]this[/bold] please")
        await wait_phase(pilot, "ready")
        await pilot.pause(0.3)
        screen_text = "\n".join(rendered_lines(app))
        assert "[bold red]RED[/bold red]" in screen_text
        assert "[bold]this[/bold]" in screen_text  # the echoed prompt is text as well
        assert forbidden_on_screen(app) == [], "control characters from an answer reached the terminal"
        await pilot.press("a")
        await wait_phase(pilot, "voted")
        assert forbidden_on_screen(app) == []


async def test_the_app_shows_a_prompt_with_escapes_as_text(fake_provider, tmp_path):
    """A prompt pasted or drawn from a pack may carry escapes: the prompt box and the echoing
    answer show them, the terminal never receives them."""
    app = make_app(hostile_app_config(fake_provider), tmp_path / "v.db")
    async with app.run_test(size=(160, 50)) as pilot:
        await send_prompt(pilot, "Echo \x1b[2J\x1b]0;title\x07 and \u202eevil please")
        await wait_phase(pilot, "ready")
        await pilot.pause(0.3)
        assert forbidden_on_screen(app) == [], "control characters from the prompt reached the terminal"


# -- one sanitizer for every text output ----------------------------------------------------------

# Everything a terminal may act on or reorder: C0 (but tab and newline), DEL, C1, the bidi
# embeddings, overrides and isolates, the Arabic letter mark and the LRM/RLM marks.
UNSAFE_ANYWHERE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE_NAME = "evil\x1b[2J\x1b]0;T\x07\u061c\u200e\u200f\u202e\rname\nModel B was: forged" + "x" * 10_000


def unsafe_in(out: str) -> list[str]:
    return sorted({hex(ord(c)) for c in UNSAFE_ANYWHERE.findall(out.replace("\r\n", "\n"))})


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x9b", "\u061c", "\u200e", "\u200f", "\u202e", "\u2067", "\r"])
def test_printable_makes_every_unsafe_character_visible(char):
    from tui.widgets.safe_text import printable

    shown = printable(f"a{char}b")
    assert unsafe_in(shown) == [] and shown.startswith("a") and shown.endswith("b") and len(shown) > 2


def test_printable_keeps_line_breaks_and_tabs_but_not_a_lone_carriage_return():
    from tui.widgets.safe_text import printable

    assert printable("one\r\ntwo\nthree\tfour") == "one\r\ntwo\nthree\tfour"
    assert printable("progress 10%\rprogress 99%") == "progress 10%␍progress 99%"  # would rewrite the line
    assert printable("a\r") == "a␍"


def test_the_battle_command_shows_an_answer_exactly_as_the_widgets_do(tmp_path, fake_provider, capsys):
    from tui.widgets.safe_text import printable

    answer = "x\x1b[2J \u200e\u061c y\rz \x9b end"
    config = tmp_path / "blindside.toml"
    config.write_text(fake_config_toml({
        # the finish reason is the server's word too: "finish: ..." is printed under the answer
        "odd": fake_model_fields(fake_provider, "openai",
                                 "fake:finish=%1B%5B2J%E2%80%8F,say=" + quote(answer, safe="")),
        "plain": fake_model_fields(fake_provider, "ollama", "fake:tokens=3"),
    }), encoding="utf-8")
    code, out, err = _cli(capsys, "battle", "--prompt", "hi", "--models", "odd,plain", "--config", str(config),
                          "--db", str(tmp_path / "v.db"))
    assert code == 0, err
    assert printable(answer) in out.splitlines()
    assert unsafe_in(out) == []


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    from tui.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_and_vote_print_a_hostile_model_name_escaped_on_one_line(tmp_path, fake_provider, capsys):
    from battles.store import ResponseRecord, Store

    config = tmp_path / "blindside.toml"
    config.write_text(fake_config_toml({
        HOSTILE_NAME: fake_model_fields(fake_provider, "openai", "fake:tokens=3"),
        "plain": fake_model_fields(fake_provider, "ollama", "fake:tokens=3"),
    }), encoding="utf-8")
    code, out, err = _cli(capsys, "models", "--config", str(config))
    assert code == 0, err
    assert unsafe_in(out) == [], "a model name drove the terminal"
    assert not any(line.startswith("Model B was: forged") for line in out.splitlines())  # no forged line
    assert max(len(line) for line in out.splitlines()) < 200, "an overlong name is shortened in the table"

    db = tmp_path / "v.db"
    with Store(db) as store:
        battle_id = store.begin_battle(model_a=HOSTILE_NAME, model_b="plain", prompt="hi")
        records = [ResponseRecord(text="one", finish_reason="stop"), ResponseRecord(text="two", finish_reason="stop")]
        store.save_turn(battle_id, 1, "hi", *records)
        store.finish_battle(battle_id, status="complete", identity_leak=False, features_a={}, features_b={})
    code, out, err = _cli(capsys, "vote", battle_id, "a", "--config", str(config), "--db", str(db))
    assert code == 0, err
    assert unsafe_in(out) == []
    assert not any(line.startswith("Model B was: forged") for line in out.splitlines()), out[:500]


# -- a bad server address: refused when the config loads, a failed line in a check ------------------

def test_a_port_out_of_range_is_refused_when_the_config_loads(tmp_path, capsys):
    config = tmp_path / "blindside.toml"
    config.write_text('[models.far]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:99999/v1"\n'
                      '[models.near]\nprovider = "ollama"\nmodel = "m"\n', encoding="utf-8")
    code, out, err = _cli(capsys, "models", "--check", "--config", str(config))
    assert code == 2 and out == ""
    assert str(config) in err and "'far'" in err and "'base_url'" in err and "99999" in err
    assert "ExceptionGroup" not in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "http://bad host:80", "http://[::1/v1",
                                 "ftp://127.0.0.1/v1", "http://127.0.0.1:1/v1"])
async def test_a_check_of_any_bad_address_is_that_models_failed_line(url, fake_model):
    from battles.engine import check_model

    broken = ModelConfig(name="far", provider="openai", model="m", base_url=url, timeout=2)
    good = fake_model("fake:tokens=2", name="near")
    async with Arena(Config(models={"far": broken, "near": good}), None) as arena:
        results = {r.name: r for r in await asyncio.wait_for(arena.check(), 15)}
        direct = await check_model(broken, arena.client)
    assert results["near"].ok
    assert not results["far"].ok and results["far"].error and not direct.ok
    assert "ExceptionGroup" not in f"{results['far'].error} {results['far'].hint}"


def test_json_output_escapes_what_a_terminal_would_act_on_and_keeps_the_exact_text(tmp_path, fake_provider, capsys):
    # JSON leaves DEL, C1 controls and bidi marks raw; a terminal showing the JSON would act on them.
    answer = "x\x7f \x9b31m \u202eevil\u202c \u200e\u061c\u2028 end"
    config = tmp_path / "blindside.toml"
    config.write_text(fake_config_toml({
        "odd\u202e\x9b": fake_model_fields(fake_provider, "openai", "fake:say=" + quote(answer, safe="")),
        "plain": fake_model_fields(fake_provider, "ollama", "fake:tokens=3"),
    }), encoding="utf-8")
    common = ["--config", str(config), "--db", str(tmp_path / "v.db")]
    code, out, err = _cli(capsys, "battle", "--prompt", "hi", "--models", "odd\u202e\x9b,plain", "--json", *common)
    assert code == 0, err
    assert unsafe_in(out) == [] and "\u2028" not in out
    battle = json.loads(out)
    assert battle["sides"]["a"]["text"] == answer
    code, out, err = _cli(capsys, "vote", battle["battle_id"], "a", "--json", *common)
    assert code == 0, err
    assert unsafe_in(out) == [] and json.loads(out)["model_a"] == "odd\u202e\x9b"
    code, out, err = _cli(capsys, "models", "--json", *common)
    assert code == 0, err
    assert unsafe_in(out) == [] and json.loads(out)["models"][0]["name"] == "odd\u202e\x9b"
