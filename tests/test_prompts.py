"""Prompt packs: the built-in packs, user TOML and JSONL packs, errors, the deck."""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

import pytest

import prompts
from battles.errors import BlindsideError
from prompts import (
    DEFAULT_CATEGORY,
    Prompt,
    PromptDeck,
    PromptPackError,
    list_packs,
    load_pack,
    prompt_id,
)

# --- built-in packs ---------------------------------------------------------------------


def test_builtin_packs_are_listed_with_descriptions():
    packs = list_packs()
    assert packs == ["general", "workshop"]
    assert all(isinstance(pack, str) for pack in packs)
    for pack in packs:
        assert pack.name == str(pack)
        assert pack.description
        assert pack.size == len(load_pack(pack))


@pytest.mark.parametrize(("name", "minimum"), [("workshop", 30), ("general", 100)])
def test_builtin_pack_loads(name, minimum):
    pack = load_pack(name)
    assert len(pack) >= minimum
    assert all(isinstance(p, Prompt) and p.pack == name for p in pack)
    ids = [p.id for p in pack]
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    texts = [p.text.lower() for p in pack]
    assert len(set(texts)) == len(texts)  # no duplicate prompts
    assert all(p.text == p.text.strip() and len(p.text) >= 10 for p in pack)
    assert all(p.id.replace("-", "").isalnum() and p.id == p.id.lower() for p in pack)


def test_workshop_has_the_demo_mix():
    counts = Counter(p.category for p in load_pack("workshop"))
    assert counts["factual"] >= 8
    for category in ("coding", "advice", "creative", "reasoning"):
        assert counts[category] >= 3, category
    short_factual = [p for p in load_pack("workshop") if p.category == "factual" and len(p.text) < 80]
    assert len(short_factual) >= 8


def test_general_covers_the_categories():
    counts = Counter(p.category for p in load_pack("general"))
    for category in ("coding", "factual", "advice", "creative", "reasoning", "math", "writing", "explanation"):
        assert counts[category] >= 8, category


def test_packs_do_not_share_prompts():
    workshop = {p.text.lower() for p in load_pack("workshop")}
    general = {p.text.lower() for p in load_pack("general")}
    assert not workshop & general


def test_prompts_package_imports_only_the_error_base_of_the_app():
    source = Path(prompts.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert {name for name in imported if name.split(".")[0] in {"battles", "scoring", "tui", "textual"}} \
        == {"battles.errors"}
    assert issubclass(PromptPackError, BlindsideError) and PromptPackError.exit_code == 2


# --- user packs ---------------------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_user_toml_pack(tmp_path):
    path = write(tmp_path, "mine.toml", """
name = "team"
description = "our prompts"

[[prompt]]
id = "one"
category = "coding"
text = "  Write FizzBuzz.  "

[[prompt]]
text = "What is 2 + 2?"
""")
    pack = load_pack(str(path))
    assert pack[0] == Prompt(id="one", category="coding", text="Write FizzBuzz.", pack="team")
    assert pack[1] == Prompt(id=prompt_id("What is 2 + 2?"), category=DEFAULT_CATEGORY, text="What is 2 + 2?", pack="team")
    assert load_pack(path) == pack  # a Path works too


def test_user_toml_pack_name_defaults_to_the_file_name(tmp_path):
    path = write(tmp_path, "quiz.toml", '[[prompt]]\nid = "a"\ntext = "Why?"\n')
    assert load_pack(str(path))[0].pack == "quiz"


def test_user_jsonl_pack(tmp_path):
    lines = [
        {"id": "a", "category": "math", "text": "What is 7 * 6?"},
        {"text": "Name a prime."},
        {"id": 17, "prompt": "Spelled 'prompt' in many data sets.", "extra": "ignored"},
    ]
    path = write(tmp_path, "set.jsonl", "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n" + json.dumps(lines[2]) + "\n")
    pack = load_pack(str(path))
    assert [p.id for p in pack] == ["a", prompt_id("Name a prime."), "17"]
    assert [p.category for p in pack] == ["math", DEFAULT_CATEGORY, DEFAULT_CATEGORY]
    assert pack[2].text == "Spelled 'prompt' in many data sets."
    assert {p.pack for p in pack} == {"set"}


def test_generated_ids_are_stable():
    assert prompt_id("Name a prime.") == prompt_id("Name a prime.")
    assert prompt_id("Name a prime.") != prompt_id("Name a prime!")
    assert prompt_id("x").startswith("p-") and len(prompt_id("x")) == 12


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.toml", "[[prompt]\ntext = 'x'", r"bad\.toml: not valid TOML"),
        ("empty.toml", 'name = "x"\n', r"empty\.toml: no prompts"),
        ("typo.toml", '[[prompts]]\ntext = "x"\n', r"typo\.toml: unknown top-level key 'prompts'.*\[\[prompt\]\]"),
        ("notext.toml", '[[prompt]]\nid = "a"\n\n[[prompt]]\nid = "b"\ncategory = "x"\n',
         r"notext\.toml: prompt #1 \(id 'a'\): field 'text' is missing"),
        ("num.toml", '[[prompt]]\nid = "a"\ntext = 5\n', r"num\.toml: prompt #1 \(id 'a'\), field 'text': expected a string, got int"),
        ("blank.toml", '[[prompt]]\ntext = "   "\n', r"blank\.toml: prompt #1, field 'text': is empty"),
        ("field.toml", '[[prompt]]\ntext = "x"\ntxt = "y"\n', r"field\.toml: prompt #1: unknown field 'txt'"),
        ("cat.toml", '[[prompt]]\ntext = "x"\ncategory = 3\n', r"cat\.toml: prompt #1, field 'category': expected a string"),
        ("dup.toml", '[[prompt]]\nid = "a"\ntext = "x"\n\n[[prompt]]\nid = "a"\ntext = "y"\n',
         r"dup\.toml: prompt #2, field 'id': 'a' is already used by prompt #1"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": oops}\n', r"bad\.jsonl: line 2: not valid JSON"),
        ("list.jsonl", '["text"]\n', r"list\.jsonl: line 1: expected a JSON object"),
        ("missing.jsonl", '{"text": "a"}\n\n{"id": "x"}\n', r"missing\.jsonl: line 3: field 'text' is missing"),
        ("idtype.jsonl", '{"text": "a", "id": [1]}\n', r"idtype\.jsonl: line 1, field 'id': expected a string, got list"),
        ("twice.jsonl", '{"text": "same"}\n{"text": "same"}\n', r"twice\.jsonl: line 2, field 'id'.*line 1.*same text"),
        ("nothing.jsonl", "\n\n", r"nothing\.jsonl: the pack has no prompts"),
        ("notes.txt", "hello", r"notes\.txt: a prompt pack must be a \.toml or a \.jsonl file"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(PromptPackError, match=message):
        load_pack(str(path))


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"text": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(PromptPackError, match=r"latin\.jsonl: not UTF-8"):
        load_pack(str(path))


def test_unknown_pack_names_the_built_ins(tmp_path):
    with pytest.raises(PromptPackError, match=r"nope: no built-in prompt pack.*general, workshop"):
        load_pack("nope")
    with pytest.raises(PromptPackError, match=r"no such prompt pack file"):
        load_pack(str(tmp_path / "gone.toml"))


# --- the deck -----------------------------------------------------------------------------


def make_prompts(n: int) -> list[Prompt]:
    return [Prompt(id=f"p{i}", category="c", text=f"prompt {i}", pack="t") for i in range(n)]


def test_deck_deals_every_prompt_once_per_round():
    pack = make_prompts(20)
    deck = PromptDeck(pack, seed=3)
    assert len(deck) == 20 and deck.remaining == 20
    first_round = [deck.draw() for _ in range(20)]
    assert sorted(p.id for p in first_round) == sorted(p.id for p in pack)
    assert first_round != pack  # shuffled
    assert deck.exhausted and deck.round == 1
    second_round = [deck.draw() for _ in range(20)]
    assert deck.round == 2
    assert sorted(p.id for p in second_round) == sorted(p.id for p in pack)
    assert second_round[0] != first_round[-1]


def test_deck_order_is_deterministic_for_a_seed():
    pack = load_pack("general")
    order = [p.id for p in PromptDeck(pack, seed=42)]
    assert order == [p.id for p in PromptDeck(pack, seed=42)]
    assert order != [p.id for p in PromptDeck(pack, seed=43)]
    assert len(order) == len(pack)
    assert PromptDeck(pack, seed=None).draw() in pack


def test_deck_of_one_and_of_none():
    deck = PromptDeck(make_prompts(1), seed=0)
    assert deck.draw() == deck.draw()
    with pytest.raises(PromptPackError):
        PromptDeck([], seed=0)
