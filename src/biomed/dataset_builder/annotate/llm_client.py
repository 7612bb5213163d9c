"""Ask an LLM server for the labels of one paragraph, with retries, backoff and strict answer checks.

Example::

    import asyncio
    from biomed.dataset_builder.annotate.prompt import load_prompt
    from biomed.dataset_builder.annotate.llm_client import LlmAnnotator, LlmClientConfig

    async def main():
        cfg = LlmClientConfig(endpoint="http://localhost:8080", model="meta-llama/Llama-3.1-70B-Instruct")
        async with LlmAnnotator(cfg, load_prompt()) as annotator:
            answer = await annotator.annotate("Case presentation", "A 54-year-old man presented with ...")
        print(answer.status, answer.type, answer.domain, answer.educational_score)

    asyncio.run(main())

The client is huggingface_hub's ``AsyncInferenceClient``: with ``api="chat"`` it posts to the endpoint's
OpenAI-compatible ``/v1/chat/completions`` (TGI, vLLM, OpenAI, or Hugging Face Inference Providers when no endpoint
is given) with the answer's JSON schema as ``response_format``; with ``api="generate"`` it posts to TGI's raw route
with the schema as ``grammar``. The token comes from the environment or the Hub login, goes only where the user sent
it (``resolve_token``) and is never logged, printed or stored: any text kept from a server (answers, error bodies)
has it masked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Literal

from biomed.dataset_builder.annotate.prompt import AnnotationPrompt
from biomed.errors import BiomedError
from biomed.labels import LabelError, check_labels


logger = logging.getLogger(__name__)

DEFAULT_MODEL = "meta-llama/Llama-3.1-70B-Instruct"
# HTTP statuses worth another try: rate limits, timeouts at a proxy, server overload and crashes.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Statuses that no retry will fix and that every other request would get too: stop the run, keep the cache.
FATAL_STATUS = frozenset({401, 403, 404})


@dataclass
class LlmClientConfig:
    """How to reach the LLM and how hard to try.

    Attributes:
        endpoint: server URL (``http://host:8080`` for TGI, ``http://host:8000/v1`` for vLLM, any OpenAI-compatible
            base URL). Empty: Hugging Face Inference Providers, routed by ``model``.
        model: model name sent in each request (the paper used Llama-3.1-70B-Instruct).
        api: ``chat`` (OpenAI-compatible chat completions, with ``response_format``) or ``generate`` (TGI's raw
            ``/generate`` route, with ``grammar`` and the prompt's ``generate_template``).
        token_env: name of an environment variable holding the API token (e.g. ``OPENAI_API_KEY``), sent to
            ``endpoint`` (never over plain http to another machine). Empty: the Hugging Face token (``HF_TOKEN`` or
            ``hf auth login``), sent only to Hugging Face (no endpoint, or an https Hugging Face endpoint); other
            endpoints get no token. The token itself never appears in any config.
        structured_output: send the answer's JSON schema so that the server constrains decoding to it. For an
            endpoint URL, huggingface_hub sends it in TGI's form (``{"type": "json_object", "value": schema}``):
            TGI enforces the schema; other OpenAI-compatible servers may apply plain JSON mode only, or reject the
            field (then set ``false``). Answers are checked on our side in every case.
        max_concurrency: requests in flight at once (match the server's batch capacity).
        timeout_s: seconds to wait for one response before retrying.
        max_retries: retries of one request after a 429/5xx, a timeout or a dropped connection.
        invalid_answer_retries: new requests after an answer that fails the checks, before recording a failure.
        backoff_initial_s: first retry delay ceiling; it doubles each retry ("full jitter": uniform in [0, ceiling]).
        backoff_max_s: largest retry delay, also the cap on a server's ``Retry-After``.
        max_tokens: generation limit; the JSON answer needs about 25 tokens.
        temperature: sampling temperature of the first attempt (0 = greedy, reproducible).
        retry_temperature: temperature of the attempts after an invalid answer: greedy decoding would repeat it.
        abort_after_failures: consecutive paragraphs that exhaust their retries on transport errors before the run
            stops (the endpoint is down); answers received so far are cached and a rerun resumes.
    """

    endpoint: str = ""
    model: str = DEFAULT_MODEL
    api: Literal["chat", "generate"] = "chat"
    token_env: str = ""
    structured_output: bool = True
    max_concurrency: int = 64
    timeout_s: float = 120.0
    max_retries: int = 6
    invalid_answer_retries: int = 2
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_tokens: int = 64
    temperature: float = 0.0
    retry_temperature: float = 0.7
    abort_after_failures: int = 32

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.max_retries < 0 or self.invalid_answer_retries < 0:
            raise ValueError("max_retries and invalid_answer_retries must be 0 or more")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL; got {self.endpoint!r}")


@dataclass(slots=True)
class LlmAnswer:
    """The outcome for one paragraph.

    Attributes:
        status: ``ok`` or ``failed``; a failed answer has null labels and a ``reason``, never a default label.
        reason: short failure tag (``invalid_json``, ``invalid_score``, ``http_429``, ``timeout``, ...).
        error: ``reason: detail`` for failures, else None.
        raw_answer: the model's text of the last attempt (None when no answer came back).
        latency_s: seconds of the last request.
        tokens_in, tokens_out: tokens of all attempts together, as the server reported them (None if it did not).
        requests: HTTP requests sent for this paragraph.
        transient: the failure came from the transport (no valid HTTP answer): not cached, retried by a rerun.
    """

    status: str
    type: str | None = None
    domain: str | None = None
    educational_score: int | None = None
    raw_answer: str | None = None
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    reason: str | None = None
    error: str | None = None
    requests: int = 0
    transient: bool = False


class EndpointError(BiomedError):
    """The endpoint refuses every request (bad URL, bad token, offline mode): the run stops."""


class _TransportFailure(Exception):
    """A retryable failure of one request; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, reason: str, detail: str, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retry_after = reason, detail, retry_after


class _AnswerFailure(Exception):
    """A non-retryable HTTP failure of one paragraph (e.g. 400: the prompt is too long for the model)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


# Hosts of Hugging Face's own inference services (Inference Providers' router, Inference Endpoints, Spaces): the
# Hugging Face token is theirs to receive.
HF_HOST_SUFFIXES = ("huggingface.co", "huggingface.cloud", "hf.space")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def resolve_token(token_env: str = "", endpoint: str = "") -> str | None:
    """The token requests to ``endpoint`` carry: a credential goes only where the user sent it.

    - ``token_env`` named: that variable's value, to any endpoint, but never over plain http to another machine.
    - no endpoint (Hugging Face Inference Providers) or an https endpoint of Hugging Face: ``HF_TOKEN`` or the
      ``hf auth login`` token.
    - any other endpoint: no token (name one with ``token_env`` if the server needs it).

    Raises:
        BiomedError: ``token_env`` is unset or empty, or would go over plain http to a non-local host.
    """
    host, scheme = _host_and_scheme(endpoint)
    if token_env:
        value = os.environ.get(token_env)
        if not value:
            raise BiomedError(f"environment variable {token_env} (client.token_env) is empty or unset; export it")
        if scheme == "http" and not _is_local(host):
            raise BiomedError(
                f"refusing to send the token of ${token_env} over plain http to {host}: anyone on the way could read "
                "it; use an https endpoint, or drop --token-env if the server needs no token"
            )
        return value
    if endpoint and not (scheme == "https" and _is_hugging_face(host)):
        return None
    from huggingface_hub import get_token

    return get_token()


def _host_and_scheme(endpoint: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    return (parts.hostname or "").lower(), parts.scheme.lower()


def _is_local(host: str) -> bool:
    return host in _LOCAL_HOSTS or host.startswith("127.")


def _is_hugging_face(host: str) -> bool:
    return any(host == suffix or host.endswith("." + suffix) for suffix in HF_HOST_SUFFIXES)


def parse_answer(text: str | None) -> tuple[str, str, int]:
    """Parse and check one model answer: a JSON object, possibly inside a Markdown code fence.

    Raises:
        LabelError: reason ``empty_answer``, ``invalid_json``, ``not_an_object``, ``missing_field``,
            ``invalid_type``, ``invalid_domain`` or ``invalid_score``.
    """
    if text is None or not text.strip():
        raise LabelError("empty_answer", "the model returned no text")
    body = text.strip()
    if body.startswith("```"):
        # Chat models without constrained decoding often fence JSON; the fence carries no label.
        body = body.strip("`").removeprefix("json").strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise LabelError("invalid_json", f"no JSON object in {_clip(text)!r}")
    try:
        answer = json.loads(body[start : end + 1])
    except json.JSONDecodeError as err:
        raise LabelError("invalid_json", f"{err.msg} in {_clip(text)!r}") from None
    if not isinstance(answer, dict):
        raise LabelError("not_an_object", f"expected a JSON object, got {_clip(text)!r}")
    return check_labels(answer)


class LlmAnnotator:
    """Labels paragraphs through one ``AsyncInferenceClient``; use it as an async context manager.

    Concurrency is bounded by the caller (``run_annotate`` runs ``max_concurrency`` workers), so that retries and
    backoff sleeps hold a slot and the server never sees more than ``max_concurrency`` requests at once.
    """

    def __init__(self, cfg: LlmClientConfig, prompt: AnnotationPrompt, token: str | None = None):
        self.cfg = cfg
        self.prompt = prompt
        self._token = token
        self._client = None
        self._schema = prompt.json_schema()
        self._rng = random.Random()
        self._consecutive_transport_failures = 0

    async def __aenter__(self) -> LlmAnnotator:
        import httpx2
        from huggingface_hub import AsyncInferenceClient, is_offline_mode

        host, scheme = _host_and_scheme(self.cfg.endpoint)
        if self._token and scheme == "http" and not _is_local(host):
            raise EndpointError(f"refusing to send a token over plain http to {host}; use an https endpoint")
        if not self.cfg.endpoint and is_offline_mode():
            raise EndpointError(
                "HF_HUB_OFFLINE=1 forbids Hugging Face Inference Providers: pass --endpoint URL of your own server"
            )

        self._client = AsyncInferenceClient(
            base_url=self.cfg.endpoint or None, token=self._token, timeout=self.cfg.timeout_s
        )
        # httpx keeps only 20 idle connections by default: with more requests in flight, connections freed by a
        # burst of answers beyond those 20 are closed and the next requests reconnect. A pool sized to the
        # concurrency keeps one connection per slot. huggingface_hub has no per-client option for this, so the pool
        # is handed to the client as the HTTP session it would otherwise create on its first request.
        self._http = httpx2.AsyncClient(
            limits=httpx2.Limits(
                max_connections=self.cfg.max_concurrency, max_keepalive_connections=self.cfg.max_concurrency
            ),
            follow_redirects=True,
            timeout=None,
            event_hooks={"request": [self._only_our_token]},
        )
        self._client._async_client = self._http
        return self

    async def _only_our_token(self, request) -> None:
        # huggingface_hub adds the locally saved Hugging Face token to any request sent without one, whatever the
        # host: a request carries the token this annotator was given, or none.
        if self._token is None:
            request.headers.pop("authorization", None)

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()
        await self._http.aclose()

    def scrub(self, text: str | None) -> str | None:
        """Mask the token in any text a server sent back (an error body could echo the request headers)."""
        if text and self._token and self._token in text:
            return text.replace(self._token, "***")
        return text

    async def annotate(self, section: str | None, text: str, tag: str = "") -> LlmAnswer:
        """Label one paragraph; never raises for a bad answer or a flaky server, only for a refusing endpoint.

        Args:
            section: the section title path shown in the prompt.
            text: the paragraph.
            tag: a short name for log messages (e.g. the paragraph key).

        Raises:
            EndpointError: the endpoint answered 401/403/404, offline mode blocks it, or
                ``abort_after_failures`` paragraphs in a row failed on transport errors.
        """
        cfg = self.cfg
        answer = LlmAnswer(status="failed")
        for attempt in range(cfg.invalid_answer_retries + 1):
            temperature = cfg.temperature if attempt == 0 else max(cfg.temperature, cfg.retry_temperature)
            try:
                content, tokens_in, tokens_out, latency = await self._request_with_retries(
                    section, text, temperature, answer, tag
                )
            except _TransportFailure as failure:
                self._consecutive_transport_failures += 1
                if self._consecutive_transport_failures >= cfg.abort_after_failures:
                    raise EndpointError(
                        f"{self._consecutive_transport_failures} paragraphs in a row failed after "
                        f"{cfg.max_retries} retries (last: {self.scrub(str(failure))}); is {self._where()} up? "
                        "Answers received so far are cached: rerun the same command to resume"
                    ) from None
                return self._failed(answer, failure.reason, failure.detail, transient=True)
            except _AnswerFailure as failure:
                self._consecutive_transport_failures = 0
                return self._failed(answer, failure.reason, failure.detail)
            self._consecutive_transport_failures = 0
            answer.raw_answer = self.scrub(content)
            answer.latency_s = latency
            answer.tokens_in = _add(answer.tokens_in, tokens_in)
            answer.tokens_out = _add(answer.tokens_out, tokens_out)
            try:
                answer.type, answer.domain, answer.educational_score = parse_answer(content)
            except LabelError as err:
                logger.debug("invalid answer for %s (attempt %d): %s", tag, attempt + 1, self.scrub(str(err)))
                answer.reason, answer.error = err.reason, self.scrub(str(err))
                continue
            answer.status, answer.reason, answer.error = "ok", None, None
            return answer
        return answer  # failed: the last invalid answer's reason and text are kept

    def _failed(self, answer: LlmAnswer, reason: str, detail: str, transient: bool = False) -> LlmAnswer:
        answer.status, answer.reason, answer.transient = "failed", reason, transient
        answer.error = self.scrub(f"{reason}: {detail}")
        answer.type = answer.domain = answer.educational_score = None
        return answer

    async def _request_with_retries(
        self, section: str | None, text: str, temperature: float, answer: LlmAnswer, tag: str
    ) -> tuple[str | None, int | None, int | None, float]:
        cfg = self.cfg
        for retry in range(cfg.max_retries + 1):
            answer.requests += 1
            started = time.perf_counter()
            try:
                content, tokens_in, tokens_out = await self._request(section, text, temperature)
                return content, tokens_in, tokens_out, time.perf_counter() - started
            except _TransportFailure as failure:
                if retry == cfg.max_retries:
                    raise
                ceiling = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2**retry)
                delay = self._rng.uniform(0, ceiling)
                if failure.retry_after is not None:
                    delay = min(cfg.backoff_max_s, max(delay, failure.retry_after))
                logger.info(
                    "%s: %s; retry %d/%d in %.2f s", tag, self.scrub(str(failure)), retry + 1, cfg.max_retries, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _request(
        self, section: str | None, text: str, temperature: float
    ) -> tuple[str | None, int | None, int | None]:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, OfflineModeIsEnabled

        cfg = self.cfg
        try:
            if cfg.api == "chat":
                response_format = (
                    {
                        "type": "json_schema",
                        "json_schema": {"name": "paragraph_labels", "schema": self._schema, "strict": True},
                    }
                    if cfg.structured_output
                    else None
                )
                output = await self._client.chat_completion(
                    self.prompt.messages(section, text),
                    model=cfg.model,
                    max_tokens=cfg.max_tokens,
                    temperature=temperature,
                    response_format=response_format,
                )
                if not output.choices:
                    raise _TransportFailure("bad_response", "the server returned no choices")
                usage = output.usage
                return (
                    output.choices[0].message.content,
                    getattr(usage, "prompt_tokens", None) if usage else None,
                    getattr(usage, "completion_tokens", None) if usage else None,
                )
            output = await self._client.text_generation(
                self.prompt.generate_prompt(section, text),
                model=cfg.endpoint or cfg.model,
                max_new_tokens=cfg.max_tokens,
                # TGI rejects temperature 0: greedy decoding is do_sample=False.
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                grammar={"type": "json", "value": self._schema} if cfg.structured_output else None,
                details=True,
            )
            if isinstance(output, str):  # a server that ignores `details`
                return output, None, None
            return output.generated_text, None, output.details.generated_tokens if output.details else None
        except OfflineModeIsEnabled:
            raise EndpointError(
                "HF_HUB_OFFLINE=1 blocks huggingface_hub's HTTP client, including requests to your own endpoint; "
                "unset HF_HUB_OFFLINE for this command"
            ) from None
        except InferenceTimeoutError:
            raise _TransportFailure("timeout", f"no response within {cfg.timeout_s} s") from None
        except (HfHubHTTPError, httpx2.HTTPError) as err:
            status = _http_status(err)
            if status is None:  # no HTTP answer at all: refused, reset or dropped connection
                raise _TransportFailure("connection", f"{type(err).__name__}: {err}") from None
            detail = f"HTTP {status}: {_clip(_response_text(err), 300)}"
            if status in FATAL_STATUS:
                raise EndpointError(
                    f"{self._where()} answered {self.scrub(detail)}; check --endpoint, --model and the token "
                    f"({'$' + cfg.token_env if cfg.token_env else 'HF_TOKEN or hf auth login'})"
                ) from None
            if status in RETRYABLE_STATUS:
                raise _TransportFailure(f"http_{status}", detail, _retry_after(err)) from None
            raise _AnswerFailure(f"http_{status}", detail) from None
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            # A 200 whose body is not the expected JSON (a proxy's HTML page, a truncated body): retry it.
            raise _TransportFailure("bad_response", f"{type(err).__name__}: {_clip(str(err))}") from None

    def _where(self) -> str:
        return self.cfg.endpoint or "Hugging Face Inference Providers"


def _http_status(err: BaseException) -> int | None:
    # TGI errors are re-raised by huggingface_hub as TextGenerationError "from" the original HTTP error.
    for candidate in (err, err.__cause__):
        response = getattr(candidate, "response", None)
        if response is not None:
            return response.status_code
    return None


def _response_text(err: BaseException) -> str:
    for candidate in (err, err.__cause__):
        response = getattr(candidate, "response", None)
        if response is not None:
            try:
                return response.text
            except Exception:  # a streamed body that was not read
                return str(candidate)
    return str(err)


def _retry_after(err: BaseException) -> float | None:
    for candidate in (err, err.__cause__):
        response = getattr(candidate, "response", None)
        if response is not None:
            try:
                return float(response.headers.get("retry-after"))
            except (TypeError, ValueError):  # absent, or an HTTP date: fall back to our own backoff
                return None
    return None


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
