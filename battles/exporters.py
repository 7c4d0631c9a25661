"""Writing the store's battles out, streamed one battle at a time.

- ``jsonl``: everything, losslessly (re-import with ``blindside import``). A header line
  ``{"blindside_export": 2, ...}`` then one battle per line with its columns, features,
  meta, responses, ``votes`` (all of them) and ``vote`` (the first, as in version 1).
- ``arena-json``: a JSON array of LMArena ``clean_battle`` records, one per vote on a
  voted, complete battle, readable by FastChat's ``elo_analysis.py`` (incl.
  ``--style-control``) and by arena-rank's examples: ``question_id`` (the battle's id for
  its first vote, ``ID~2``, ``ID~3``... for the next, so ids stay unique), ``battle_id``,
  ``shown_swapped`` and ``kind`` (blindside's, so a re-import gives the same votes),
  ``model_a``, ``model_b``, ``winner``
  (``both_bad`` as ``tie (bothbad)``), ``judge``, ``anony`` (false for a battle flagged
  for an identity leak), ``language`` (``unknown`` when not known), ``tstamp`` (the vote's
  unix time), ``turn``, ``category_tag``, ``dedup_tag`` and ``conv_metadata`` with
  ``sum_assistant_<side>_tokens``, ``header_count_<side>`` ({h1..h6}),
  ``list_count_<side>`` ({ordered, unordered}), ``bold_count_<side>`` ({**, __}) and the
  extension ``emoji_count_<side>``; plus ``conversation_a``/``_b`` when the texts are
  stored. A count the store does not know is left out of ``conv_metadata`` (never 0).
  LMArena's tools only sum the count dicts; the split is taken from the texts when they
  are stored, otherwise the whole count is given under ``h1`` / ``unordered`` / ``**``.
- ``csv``: one row per vote (a battle with several voters has several rows, one after
  another), both sides' features flat (``a_tokens`` … ``b_exclamations``; empty cell =
  unknown), then the vote's ``vote_created``, ``shown_swapped`` and ``kind``. A text cell a spreadsheet would run as a
  formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return, OWASP's rule)
  gets a leading ``'``, plain numbers excepted; ``blindside import`` takes it off again.

The store never holds an API key (the engine redacts errors before saving), so neither
does an export.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import re
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from battles.errors import BlindsideError
from battles.importing.blindside_jsonl import BATTLE_FIELDS, EXPORT_VERSION, RESPONSE_FIELDS
from battles.importing.source import EXPORT_MARKER
from battles.judging.schema import battle_judgments
from battles.store import FEATURE_COLUMNS, Store, now_iso

EXPORT_FORMATS = ("jsonl", "arena-json", "csv")
CSV_COLUMNS = (["battle_id", "created", "model_a", "model_b", "winner", "voter", "category", "language",
                "status", "identity_leak"]
               + [f"{side}_{name}" for side in ("a", "b") for name in FEATURE_COLUMNS]
               + ["vote_created", "shown_swapped", "kind"])
ARENA_WINNERS = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


_JSON = json.JSONEncoder(ensure_ascii=False)  # made once, not per battle as json.dumps(..., option) does


class ExportError(BlindsideError):
    exit_code = 2


def export(store: Store, target: str | os.PathLike, format: str = "jsonl") -> int:
    """Write the export to ``target`` (``-`` for stdout; a name ending in ``.gz`` is
    gzipped). A file appears only once complete: a failed export leaves any previous file
    as it was. Returns the number of battles written."""
    if format not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {format!r}; use {', '.join(EXPORT_FORMATS)}.")
    if str(target) == "-":
        if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8" and hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(encoding="utf-8")  # model answers are any language; the file is UTF-8
        count = write_export(store, sys.stdout, format)
        sys.stdout.flush()
        return count
    path = Path(target).expanduser()
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name to export to.")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(temporary, "wt", encoding="utf-8", newline="") as out:
            count = write_export(store, out, format)
        os.replace(temporary, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}. Nothing was exported.") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)  # gone after os.replace; else a partial file
    return count


def write_export(store: Store, out: TextIO, format: str) -> int:
    if format == "jsonl":
        return _write_jsonl(store, out)
    if format == "arena-json":
        return _write_arena_json(store, out)
    if format == "csv":
        return _write_csv(store, out)
    raise ExportError(f"unknown export format {format!r}; use {', '.join(EXPORT_FORMATS)}.")


# -- jsonl ------------------------------------------------------------------------------------


def _write_jsonl(store: Store, out: TextIO) -> int:
    header = {EXPORT_MARKER: EXPORT_VERSION, "exported": now_iso(), "app": "blindside"}
    out.write(json.dumps(header) + "\n")
    count = 0
    # One lookup per battle only when some judge has answered at all: most logs have none.
    judged = store.conn.execute("SELECT 1 FROM judgments LIMIT 1").fetchone() is not None
    for battle in store.iter_battles():
        record = blindside_record(battle)
        record["judgments"] = battle_judgments(store, battle["id"]) if judged else []
        out.write(_JSON.encode(record) + "\n")
        count += 1
    return count


def blindside_record(battle: dict[str, Any]) -> dict[str, Any]:
    record = {name: battle[name] for name in BATTLE_FIELDS}
    record["swapped"] = bool(record["swapped"])
    record["identity_leak"] = bool(record["identity_leak"])
    for side in ("a", "b"):
        record[f"features_{side}"] = {name: battle[f"{side}_{name}"] for name in FEATURE_COLUMNS}
    record["meta"] = json.loads(battle["meta"]) if battle["meta"] else None
    record["responses"] = [{name: response[name] for name in RESPONSE_FIELDS} for response in battle["responses"]]
    record["votes"] = battle["votes"]
    record["vote"] = battle["vote"]
    return record


# -- arena-json -------------------------------------------------------------------------------


def _write_arena_json(store: Store, out: TextIO) -> int:
    out.write("[")
    count = written = 0
    for battle in store.iter_battles(voted_only=True):
        for record in arena_records(battle):
            out.write(",\n" if written else "\n")
            out.write(_JSON.encode(record))
            written += 1
        count += 1
    out.write("\n]\n" if written else "]\n")
    return count


def arena_records(battle: dict[str, Any]) -> list[dict[str, Any]]:
    """One LMArena record per vote of the battle."""
    base = arena_record(battle)
    records = []
    for number, vote in enumerate(battle["votes"], start=1):
        record = dict(base)
        record["question_id"] = battle["id"] if number == 1 else f"{battle['id']}~{number}"
        record["winner"] = ARENA_WINNERS[vote["winner"]]
        record["judge"] = vote["voter"]
        record["tstamp"] = iso_to_unix(vote["created"])
        record["shown_swapped"] = vote["shown_swapped"]
        record["kind"] = vote["kind"]
        records.append(record)
    return records


def arena_record(battle: dict[str, Any]) -> dict[str, Any]:
    """The battle as one LMArena record, with its first vote."""
    vote = battle["vote"]
    meta = json.loads(battle["meta"]) if battle["meta"] else {}
    record: dict[str, Any] = {
        "question_id": battle["id"],
        "battle_id": battle["id"],
        "model_a": battle["model_a"],
        "model_b": battle["model_b"],
        "winner": ARENA_WINNERS[vote["winner"]],
        "judge": vote["voter"],
        "anony": not battle["identity_leak"],
        "language": battle["language"] or "unknown",
        "tstamp": iso_to_unix(vote["created"]),
        "shown_swapped": vote["shown_swapped"],
        "kind": vote["kind"],
        "turn": battle["turns"] or meta.get("turn", 0),  # imported without texts: LMArena's own count
        "category_tag": meta.get("category_tag", {}),
        "dedup_tag": meta.get("dedup_tag", {"high_freq": False, "sampled": True}),
    }
    if battle["category"] is not None:
        record["category"] = battle["category"]
    conversations = _conversations(battle["responses"])
    texts = {side: [m["content"] for m in conversations[side] if m["role"] == "assistant"]
             for side in ("a", "b")} if conversations else {}
    conv_metadata: dict[str, Any] = {}
    for side in ("a", "b"):
        conv_metadata.update(_side_metadata(battle, side, texts.get(side)))
    if conv_metadata:
        record["conv_metadata"] = conv_metadata
    if conversations:
        record["conversation_a"] = conversations["a"]
        record["conversation_b"] = conversations["b"]
    for key, value in meta.items():  # what an import kept (is_code, ...) goes back out
        record.setdefault(key, value)
    return record


def _conversations(responses: list[dict]) -> dict[str, list[dict[str, str]]] | None:
    if not responses:
        return None
    out: dict[str, list[dict[str, str]]] = {"a": [], "b": []}
    for response in responses:  # ordered by turn, then side
        out[response["side"]] += [{"role": "user", "content": response["prompt"] or ""},
                                  {"role": "assistant", "content": response["text"] or ""}]
    return out


def _side_metadata(battle: dict[str, Any], side: str, texts: list[str] | None) -> dict[str, Any]:
    def known(name: str) -> int | None:
        return battle[f"{side}_{name}"]

    metadata: dict[str, Any] = {}
    if known("tokens") is not None:
        metadata[f"sum_assistant_{side}_tokens"] = known("tokens")
    split = markdown_split(texts) if texts is not None else None
    for name, key, fallback in (("header", "header_count", "h1"), ("list", "list_count", "unordered"),
                                ("bold", "bold_count", "**")):
        total = known(name)
        if total is None:
            continue
        parts = split[name] if split else None
        if parts is None or sum(parts.values()) != total:
            parts = dict.fromkeys(_SPLIT_KEYS[name], 0)
            parts[fallback] = total
        metadata[f"{key}_{side}"] = parts
    if known("emoji") is not None:
        metadata[f"emoji_count_{side}"] = known("emoji")
    return metadata


# The split LMArena reports (headers by level, ordered/unordered items, ** and __ bold),
# with the same rules as battles.features: code blocks and inline code do not count.
_SPLIT_KEYS = {"header": ("h1", "h2", "h3", "h4", "h5", "h6"), "list": ("ordered", "unordered"),
               "bold": ("**", "__")}
_HEADER = re.compile(r"^(#{1,6})\s", re.MULTILINE)
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_INLINE_CODE = re.compile(r"``[^\n]+?``|`[^`\n]+`")


def markdown_split(texts: Iterable[str]) -> dict[str, dict[str, int]]:
    from battles.features import split_code

    split = {name: dict.fromkeys(keys, 0) for name, keys in _SPLIT_KEYS.items()}
    for text in texts:
        prose, _ = split_code(text.replace("\r\n", "\n").replace("\r", "\n"))
        for match in _HEADER.finditer(prose):
            split["header"][f"h{len(match.group(1))}"] += 1
        split["list"]["ordered"] += len(_ORDERED.findall(prose))
        split["list"]["unordered"] += len(_UNORDERED.findall(prose))
        for match in _BOLD.finditer(_INLINE_CODE.sub("", prose)):
            split["bold"][match.group(0)[:2]] += 1
    return split


def iso_to_unix(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# -- csv --------------------------------------------------------------------------------------


def _write_csv(store: Store, out: TextIO) -> int:
    writer = _FormulaSafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for battle in store.iter_battles(voted_only=True, with_responses=False):
        features = [battle[f"{side}_{name}"] for side in ("a", "b") for name in FEATURE_COLUMNS]
        for vote in battle["votes"]:
            writer.writerow([battle["id"], battle["created"], battle["model_a"], battle["model_b"], vote["winner"],
                             vote["voter"], battle["category"], battle["language"], battle["status"],
                             battle["identity_leak"], *features, vote["created"], int(vote["shown_swapped"]),
                             vote["kind"]])
        count += 1
    return count


# A cell starting with one of these is run as a formula by spreadsheets (OWASP's CSV
# injection rule); so is one that starts with quotes and then one of these, once the
# importer has taken a quote off, hence the leading quotes in the pattern.
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def formula_safe(cell: Any) -> Any:
    """``cell`` with a leading ``'`` if a spreadsheet would run it (a plain number such as
    ``-1.5`` is left alone). Undone by ``battles.importing.arena_csv.unquote_formula``."""
    if (type(cell) is str and cell[:1] in "=+-@\t\r'" and FORMULA_START.match(cell)
            and not PLAIN_NUMBER.fullmatch(cell)):
        return "'" + cell
    return cell


class _FormulaSafeWriter:
    """A csv writer that quotes formulas; and quotes every cell of a row holding a carriage
    return, which the csv module leaves bare with a "\n" line end (a reader would then
    split the row there)."""

    def __init__(self, out: TextIO):
        self._writer = csv.writer(out, lineterminator="\n")
        self._quoting_writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row) -> None:
        cells = [formula_safe(cell) for cell in row]
        if any(type(cell) is str and "\r" in cell for cell in cells):
            self._quoting_writer.writerow(cells)
        else:
            self._writer.writerow(cells)
