"""A workshop-sized deck built for the deck benchmarks: the real ``deck build`` against the fake
provider in a child process (answers of a few dozen tokens, no model to load), so the figures
measure voting and serving, not generation. As docs/workshop.md builds it: the workshop pack,
three models, one pair per prompt (35 battles)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

PACK = "workshop"
MODELS = {  # name -> (provider, fake model id): three models, as the local lineup has
    "plain": ("openai", "fake:tokens=40,seed=1"),
    "plain-chatty": ("ollama", "fake:text=markdown,tokens=60,seed=2"),
    "creative": ("openai", "fake:tokens=50,seed=3"),
}


def build_room_deck(db: Path, url: str, name: str = "room", prompts: int | None = None) -> list[str]:
    """Build deck ``name`` in ``db`` from the workshop pack (its first ``prompts``, or all) on
    the fake provider at ``url``; returns the deck's playable battle ids, in order."""
    from battles import decks
    from battles.config import Config, ModelConfig
    from battles.deck_build import build_deck
    from battles.store import Store
    from prompts import load_pack

    pack = load_pack(PACK)[:prompts] if prompts else load_pack(PACK)
    pack_file = db.with_suffix(".prompts.jsonl")
    pack_file.write_text("".join(json.dumps({"id": p.id, "text": p.text}) + "\n" for p in pack), encoding="utf-8")
    config = Config(models={n: ModelConfig(name=n, provider=provider, model=model_id,
                                           base_url=f"{url}/v1" if provider == "openai" else url)
                            for n, (provider, model_id) in MODELS.items()})
    with Store(db) as store:
        report = asyncio.run(build_deck(store, config, name, prompts=str(pack_file), models=list(MODELS),
                                        pairs=1, seed=1))
        if report.failures:
            raise RuntimeError("deck build failed: " + "; ".join(report.failure_lines()))
        return decks.playable_battles(store, name)
