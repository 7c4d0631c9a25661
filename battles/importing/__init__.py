"""Importing vote logs into the store.

Formats (``auto`` detects them from the content; gzip is recognised by its magic bytes):

- ``jsonl``: blindside's own export, a lossless round trip (see ``blindside_jsonl``).
- ``arena-json``: LMArena ``clean_battle`` records, as a JSON array or JSON Lines (see ``arena``).
- ``arena-csv``: LMArena's released votes ``id, model_a, model_b, winner`` (see ``arena_csv``).

Stable ids, so that importing the same file twice adds nothing: a battle keeps its id in a
blindside export; an LMArena record is identified by its ``id`` (else ``question_id``),
and a record without either by the hash of its content. The k-th record of one file with
the same identity gets ``~k`` appended, so two identical votes in a file stay two votes,
and the ids do not depend on where the records sit in the file.
"""

from battles.importing.errors import BadRow, ImportFileError, StrictImportError
from battles.importing.records import ImportReport
from battles.importing.runner import import_file
from battles.importing.source import FORMATS, detect_format

__all__ = ["FORMATS", "BadRow", "ImportFileError", "ImportReport", "StrictImportError", "detect_format",
           "import_file"]
