"""Before the vote nothing on screen tells which model is which: no name, provider, model id,
host or URL, in any title, pane, label, table, notification or the rendered terminal lines.
The same check after the vote must find the names (so it can fail)."""

from __future__ import annotations

import pytest

from battles.config import ArenaConfig, Config, ModelConfig
from tests.app_harness import SIZE, all_text, lineup, make_app, send_prompt, wait_for, wait_phase

NAMES = ("zephyr-large", "quartz-mini")


def anonymous_lineup(fake, left_id: str, right_id: str) -> Config:
    models = {
        "zephyr-large": ModelConfig(name="zephyr-large", provider="openai", model=left_id,
                                    base_url=fake.base_url("openai")),
        "quartz-mini": ModelConfig(name="quartz-mini", provider="anthropic", model=right_id,
                                   base_url=fake.base_url("anthropic")),
    }
    return Config(arena=ArenaConfig(voter="tester"), models=models)


def secrets(fake, config: Config) -> list[str]:
    out = [*NAMES, "openai", "anthropic", "127.0.0.1", "localhost", f":{fake.port}", fake.url]
    out += [m.model for m in config.models.values()]
    return out


def leaked(app, words) -> list[str]:
    text = all_text(app).lower()
    return [w for w in words if w.lower() in text]


@pytest.mark.parametrize("right_id", [
    "fake:tokens=40,rate=400,id=ok2",
    "fake:fault=error@5,tokens=40",  # the error event names the model id and the server URL
    "fake:401",  # "Incorrect API key provided: ..."
    "fake:404",  # "The model `...` does not exist"
    "fake:cut@3,tokens=40",
])
async def test_nothing_names_a_model_before_the_vote(fake_provider, tmp_path, right_id):
    config = anonymous_lineup(fake_provider, "fake:tokens=60,rate=300,id=ok1", right_id)
    words = secrets(fake_provider, config)
    app = make_app(config, tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert leaked(app, words) == []
        await send_prompt(pilot, "Tell me who you are")
        await wait_for(pilot, lambda: any(p.text for p in screen.panes), what="streaming")
        assert leaked(app, words) == []  # mid-stream
        await wait_phase(pilot, "ready", "unvotable")
        await pilot.pause()
        assert leaked(app, words) == []  # both ended, not voted
        if screen.phase == "ready":
            await pilot.press("a")
        else:
            await pilot.press("v")  # an unvotable battle may be revealed
        assert {"zephyr-large", "quartz-mini"} <= set(leaked(app, words))


async def test_a_name_in_the_answer_is_shown_but_the_flag_waits_for_the_vote(fake_provider, tmp_path):
    # The model says its own name: that is the answer's content (the voter reads it), but the
    # app itself adds nothing (no leak flag, no "Model A is ...") until the vote.
    config = lineup(fake_provider, "fake:mention=alpha-model,tokens=10", "fake:tokens=10")
    app = make_app(config, tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "who are you")
        await wait_phase(pilot, "ready")
        text = all_text(app)
        assert "beta-model" not in text and "Identity leak" not in text
        await pilot.press("a")
        assert "Identity leak" in all_text(app)
        assert "not counted" in all_text(app)
        assert screen.last_reveal.identity_leak
