"""A fake LLM server speaking TGI's ``/generate`` and the OpenAI ``/v1/chat/completions`` API over real sockets.

Used by the annotate tests (imported as ``fake_llm_server``: pytest puts this folder on ``sys.path`` for the test
modules beside it) and by ``bench/annotate.py`` (loaded by file path). Test code only: nothing in ``src/`` imports it.

Example::

    with FakeLlmServer(latency_s=0.05, slots=8, faults={"PARA-0003": ["429", "malformed"]}) as server:
        ...  # point the client at server.url; afterwards read server.stats
    # or, as a separate process (prints "PORT <n>" and serves until killed):
    python tests/dataset_builder/fake_llm_server.py --latency 0.2 --slots 64

Each request is identified by the first ``PARA-<digits>`` marker in its prompt (else a hash of the prompt), so a
test can script the faults of one paragraph's successive attempts: ``"ok"``, ``"429"``, ``"429_retry_after"``,
``"500"``, ``"503"``, ``"400"``, ``"401"``, ``"drop"`` (close the socket without answering), ``"hang"`` (never
answer), ``"bad_body"`` (HTTP 200 whose body is not JSON), ``"malformed"`` (an answer that is not JSON),
``"truncated"``, ``"out_of_range"`` (educational_score 7), ``"bad_label"``, ``"missing_field"``, ``"fenced"``
(valid JSON inside a Markdown code fence) and ``"echo_token"`` (a 500 whose body repeats the Authorization
header). Attempts beyond the script get ``default_fault`` (``"ok"`` unless set).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any


TYPES = ("review", "study", "clinical_case", "other")
DOMAINS = ("clinical", "biomedical", "other")
KEY_PATTERN = re.compile(r"PARA-\d+")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def default_answer(key: str) -> dict[str, Any]:
    """A deterministic, valid answer for a paragraph key, so tests can predict every label."""
    digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    return {
        "type": TYPES[digest % 4],
        "domain": DOMAINS[(digest // 4) % 3],
        "educational_score": 1 + (digest // 12) % 5,
    }


class ServerStats:
    """What the server saw; read it after the run (the counters are only written on the server's loop)."""

    def __init__(self) -> None:
        self.requests = 0
        self.attempts_by_key: collections.Counter[str] = collections.Counter()
        self.answered_by_key: collections.Counter[str] = collections.Counter()  # valid "ok" answers written
        self.faults: collections.Counter[str] = collections.Counter()
        self.paths: collections.Counter[str] = collections.Counter()
        self.auth_headers: set[str] = set()
        self.bodies: list[dict[str, Any]] = []
        self.connections = 0  # TCP connections accepted
        self.in_flight = 0
        self.max_in_flight = 0


class FakeLlmServer:
    """An asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) run on a background thread.

    Args:
        latency_s: time each request holds a slot before its answer is written.
        slots: requests served at once (like a TGI batch); more wait in line. ``None``: unlimited.
        faults: per paragraph key, the outcome of its 1st, 2nd, ... attempt.
        default_fault: the outcome of attempts not scripted in ``faults``.
        answer_fn: the valid answer for a key (default: ``default_answer``).
        keep_bodies: store every decoded request body in ``stats.bodies`` (for tests on payloads).
        port: TCP port on 127.0.0.1 (0 = any free port).
        key_pattern: how a request's paragraph key is found in its prompt (its last group, or the whole match).
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        slots: int | None = None,
        faults: dict[str, list[str]] | None = None,
        default_fault: str = "ok",
        answer_fn: Callable[[str], dict[str, Any]] = default_answer,
        keep_bodies: bool = False,
        port: int = 0,
        key_pattern: str | re.Pattern = KEY_PATTERN,
    ) -> None:
        self.latency_s = latency_s
        self.slots = slots
        self.faults = {key: list(script) for key, script in (faults or {}).items()}
        self.default_fault = default_fault
        self.answer_fn = answer_fn
        self.keep_bodies = keep_bodies
        self.port = port
        self.key_pattern = re.compile(key_pattern)
        self.stats = ServerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeLlmServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving on a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run_thread, name="fake-llm-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake LLM server did not start")

    def stop(self) -> None:
        """Close every connection and the listening socket, then join the thread."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def call(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the server's loop (to change faults while it serves)."""
        self._loop.call_soon_threadsafe(fn)

    def _run_thread(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._start_server())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for writer in list(self._writers):
                writer.transport.abort()
            self._server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _start_server(self) -> None:
        self._semaphore = asyncio.Semaphore(self.slots) if self.slots else None
        self._server = await asyncio.start_server(self._serve_connection, "127.0.0.1", self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.stats.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, path, headers, body = request
                keep = await self._respond(method, path, headers, body, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the client went away, or the server is stopping
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        stats = self.stats
        stats.requests += 1
        stats.paths[path] += 1
        if "authorization" in headers:
            stats.auth_headers.add(headers["authorization"])
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            try:
                payload = json.loads(body or b"{}")
            except json.JSONDecodeError:
                _write(writer, 400, {"error": "request body is not JSON"})
                return True
            if self.keep_bodies:
                stats.bodies.append(payload)
            if method != "POST" or path not in ("/", "/generate", "/v1/chat/completions"):
                _write(writer, 404, {"error": f"no route {method} {path}"})
                return True
            chat = path.endswith("/chat/completions")
            prompt = payload["messages"][-1]["content"] if chat else payload.get("inputs", "")
            match = self.key_pattern.search(prompt)
            key = match.group(match.lastindex or 0) if match else hashlib.sha1(prompt.encode()).hexdigest()[:12]
            stats.attempts_by_key[key] += 1
            script = self.faults.get(key)
            fault = script.pop(0) if script else self.default_fault
            stats.faults[fault] += 1
            if self._semaphore is not None:
                async with self._semaphore:
                    await asyncio.sleep(self.latency_s)
            elif self.latency_s:
                await asyncio.sleep(self.latency_s)
            return await self._answer(fault, key, chat, payload, prompt, headers, writer)
        finally:
            stats.in_flight -= 1

    async def _answer(
        self, fault: str, key: str, chat: bool, payload: dict, prompt: str, headers: dict, writer: asyncio.StreamWriter
    ) -> bool:
        if fault == "drop":
            return False
        if fault == "hang":
            await asyncio.sleep(3600)
            return False
        if fault in ("429", "429_retry_after", "500", "503", "400", "401", "echo_token"):
            status = 500 if fault == "echo_token" else int(fault[:3])
            extra = {"Retry-After": "1"} if fault == "429_retry_after" else {}
            message = f"server saw {headers.get('authorization', '')}" if fault == "echo_token" else f"fault {fault}"
            _write(writer, status, {"error": message, "error_type": "fake"}, extra)
            await writer.drain()
            return True
        if fault == "bad_body":
            _write_raw(writer, 200, b"<html>gateway error</html>", "text/html")
            await writer.drain()
            return True
        answer = dict(self.answer_fn(key))
        if fault == "out_of_range":
            answer["educational_score"] = 7
        elif fault == "bad_label":
            answer["type"] = "editorial"
        elif fault == "missing_field":
            answer.pop("domain")
        content = json.dumps(answer)
        if fault == "malformed":
            content = f"Sure! This paragraph is a {answer['type']} with a score of {answer['educational_score']}."
        elif fault == "truncated":
            content = content[: len(content) // 2]
        elif fault == "fenced":
            content = f"```json\n{content}\n```"
        elif fault not in ("ok", "out_of_range", "bad_label", "missing_field"):
            raise ValueError(f"unknown fault {fault!r}")
        tokens_in = max(1, len(json.dumps(payload)) // 4)
        tokens_out = max(1, len(content) // 4)
        if chat:
            response = {
                "id": f"chatcmpl-{key}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": payload.get("model", "fake"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": tokens_in,
                    "completion_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                },
            }
        else:
            response = {
                "generated_text": content,
                "details": {
                    "finish_reason": "eos_token",
                    "generated_tokens": tokens_out,
                    "seed": None,
                    "prefill": [],
                    "tokens": [],
                },
            }
            if payload.get("parameters", {}).get("details") is not True:
                response = [{"generated_text": content}]
        _write(writer, 200, response)
        await writer.drain()
        if fault in ("ok", "fenced"):
            self.stats.answered_by_key[key] += 1
        return True


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
    return method, path, headers, body


def _write(writer: asyncio.StreamWriter, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
    _write_raw(writer, status, json.dumps(payload).encode(), "application/json", extra)


def _write_raw(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> None:
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    head += [f"{name}: {value}" for name, value in (extra or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each request holds a slot")
    parser.add_argument("--slots", type=int, default=0, help="requests served at once (0 = unlimited)")
    args = parser.parse_args()
    server = FakeLlmServer(latency_s=args.latency, slots=args.slots or None, port=args.port)
    server.start()
    print(f"PORT {server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
