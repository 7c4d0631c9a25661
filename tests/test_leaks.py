"""Identity leak detection: names of models, vendors, families and aliases in the answers."""

from __future__ import annotations

import pytest

from battles.config import ModelConfig
from battles.leaks import LeakDetector, compile_names, find_leaks, identity_names

GPT = ModelConfig(name="mini", provider="openai", model="gpt-4o-mini")
CLAUDE = ModelConfig(name="sonnet", provider="anthropic", model="claude-3-5-sonnet-latest")
LLAMA = ModelConfig(name="small", provider="ollama", model="llama3.2:1b")
SMOL = ModelConfig(name="tiny-local", provider="ollama", model="hf.co/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF:Q8_0")


def test_names_of_an_openai_model():
    names = {n.lower() for n in identity_names(GPT)}
    assert {"gpt-4o-mini", "gpt", "openai", "chatgpt"} <= names
    assert "mini" not in names  # a generic part (and lineup name) names no one


def test_names_of_a_local_llama_include_family_and_maker_but_not_openai():
    names = {n.lower() for n in identity_names(LLAMA)}
    assert {"llama", "meta", "llama3.2:1b"} <= names
    assert "openai" not in names and "small" not in names


def test_names_of_a_hugging_face_model_path():
    names = {n.lower() for n in identity_names(SMOL)}
    assert {"smollm", "hugging face", "smollm2-360m-instruct-gguf"} <= names


@pytest.mark.parametrize("answer", [
    "I am ChatGPT, a large language model.",
    "As an AI developed by OpenAI, I cannot do that.",
    "i'm gpt-4o-mini.",
    "This is GPT-4 speaking.",
    "Trained like gpt4 models are.",
])
def test_openai_leaks_are_found(answer):
    assert find_leaks([GPT, LLAMA], [answer, "an innocent answer"])


@pytest.mark.parametrize("answer", [
    "I'm Claude, an AI assistant made by Anthropic.",
    "CLAUDE here.",
    "Hi! I am Llama 3, built by Meta.",
    "As SmolLM, a small model from Hugging Face, ...",
])
def test_leaks_of_other_families(answer):
    assert find_leaks([CLAUDE, LLAMA, SMOL], ["fine", answer])


@pytest.mark.parametrize("answer", [
    "Use a gptq quantised checkpoint.",  # gpt inside a longer word
    "The meta tag goes in the head.",  # lower-case common word
    "See the metadata field.",
    "A small mini guide for everyone.",  # generic words, even when they are lineup names
    "Sonnets by Shakespeare rhyme.",
])
def test_ordinary_words_are_not_leaks(answer):
    assert find_leaks([GPT, LLAMA], [answer]) == []


def test_a_name_the_user_typed_is_not_a_leak():
    answers = ["No, I am not ChatGPT.", "I am not ChatGPT either."]
    assert find_leaks([GPT, LLAMA], answers, ["Are you ChatGPT?"]) == []
    # ...but another name still is
    assert find_leaks([GPT, LLAMA], answers + ["I am Llama."], ["Are you ChatGPT?"]) == ["Llama"]


def test_configured_aliases_are_leaks():
    model = ModelConfig(name="house", provider="openai", model="internal-v7", base_url="http://x",
                        aliases=("Zorblax", "Team Bot"))
    detector = LeakDetector([model, LLAMA])
    assert detector.find(["Greetings, I am ZORBLAX."]) == ["ZORBLAX"]
    assert detector.find(["I am team-bot."]) == ["team-bot"]


def test_the_contestant_name_with_a_treatment_is_a_leak():
    model = ModelConfig(name="house", provider="ollama", model="house", treatment="chatty")
    assert find_leaks([model, LLAMA], ["I am house+chatty!"]) == ["house+chatty"]


def test_found_names_are_reported_once_as_written():
    assert find_leaks([CLAUDE, LLAMA], ["Claude, Claude and claude; Anthropic"]) == ["Anthropic", "Claude"]


def test_one_regex_per_detector():
    detector = LeakDetector([GPT, CLAUDE])
    assert detector.pattern is not None and detector.pattern.pattern.count("(?:") >= 1
    assert compile_names([]) is None
    assert LeakDetector([]).find(["anything"]) == []


def test_fast_on_a_long_answer():
    # Not a timing assertion: a 200,000-character answer must be scanned in one pass.
    detector = LeakDetector([GPT, CLAUDE, LLAMA, SMOL])
    text = "the quick brown fox jumps over the lazy dog " * 4500 + "I am Claude."
    assert detector.find([text]) == ["Claude"]


def test_a_name_both_sides_share_reveals_nothing():
    local = ModelConfig(name="smollm2", provider="llama-cpp", model="SmolLM2-135M-Instruct")
    creative = ModelConfig(name="smollm2-creative", provider="llama-cpp", model="SmolLM2-135M-Instruct",
                           temperature=1.0)
    assert find_leaks([local, creative], ["I am SmolLM, made by Hugging Face. Be creative!"]) == []


def test_a_name_of_one_side_still_leaks_when_the_other_side_differs():
    local = ModelConfig(name="smollm2", provider="llama-cpp", model="SmolLM2-135M-Instruct")
    claude = ModelConfig(name="haiku", provider="anthropic", model="claude-3-5-haiku-latest")
    assert find_leaks([local, claude], ["As Claude, I think so."]) == ["Claude"]
    assert find_leaks([local, claude], ["SmolLM here."]) == ["SmolLM"]


# -- two models on one protocol: vendor names come from the model id, not only the provider ------

SAME_PROTOCOL = [
    # (model id, a name its answer may use, another model's id)
    ("gpt-4o", "OpenAI", "llama-3-70b"),
    ("gpt-4o", "ChatGPT", "llama-3-70b"),
    ("o3-mini", "OpenAI", "qwen2.5-72b"),
    ("o1", "OpenAI", "mistral-large"),
    ("o4-mini", "GPT", "deepseek-chat"),
    ("chatgpt-4o-latest", "OpenAI", "gemma-2-9b"),
    ("claude-3-5-sonnet", "Anthropic", "gpt-4o"),
    ("llama-3-70b", "Meta", "gpt-4o"),
    ("gemini-1.5-pro", "Google", "gpt-4o"),
    ("gemma-2-9b", "Gemini", "gpt-4o"),
    ("qwen2.5-72b", "Alibaba", "gpt-4o"),
    ("mixtral-8x7b", "Mistral", "gpt-4o"),
    ("deepseek-chat", "DeepSeek", "gpt-4o"),
    ("grok-2", "xAI", "gpt-4o"),
    ("phi-3-mini", "Microsoft", "gpt-4o"),
    ("command-r-plus", "Cohere", "gpt-4o"),
    ("smollm2-1.7b", "Hugging Face", "gpt-4o"),
]


@pytest.mark.parametrize("model_id, vendor, other_id", SAME_PROTOCOL)
def test_a_vendor_name_tells_two_models_on_one_protocol_apart(model_id, vendor, other_id):
    # "openai" is a protocol here: vLLM, Groq and OpenRouter serve every family through it.
    one = ModelConfig(name="left", provider="openai", model=model_id, base_url="http://x")
    other = ModelConfig(name="right", provider="openai", model=other_id, base_url="http://x")
    answer = f"As a model made by {vendor}, I can help."
    assert find_leaks([one, other], [answer]) == [vendor]
    assert find_leaks([other, one], ["fine", answer]) == [vendor]


def test_an_alias_names_the_family_too():
    house = ModelConfig(name="house", provider="openai", model="internal-v7", base_url="http://x",
                        aliases=("claude-3-haiku",))
    local = ModelConfig(name="local", provider="openai", model="llama-3-8b", base_url="http://x")
    assert find_leaks([house, local], ["I was trained by Anthropic."]) == ["Anthropic"]


def test_a_vendor_both_sides_share_on_one_protocol_still_reveals_nothing():
    big = ModelConfig(name="big", provider="openai", model="gpt-4o", base_url="http://x")
    small = ModelConfig(name="small", provider="openai", model="gpt-4o-mini", base_url="http://x")
    assert find_leaks([big, small], ["As an OpenAI model, I think so."]) == []
