"""Hub and network failures of a push as one-line ``BiomedError``s, and secrets kept out of messages and logs.

Example::

    from biomed.hub_errors import redact

    redact("PUT https://s3.example/obj?X-Amz-Signature=abc with hf_secret", "hf_secret")
    # -> "PUT https://s3.example/obj?<redacted> with <token>"

``biomed.hub.publish`` runs inside `_hub_errors` (what failed, what to do, whether the release is live) and
`_redacted_logs` (the token and signed upload URLs redacted from every log handler's records).
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from biomed.errors import BiomedError


_URL_QUERY = re.compile(r"(https?://[^\s?#'\"<>]+)[?#][^\s'\"<>]*")


def redact(text: str, token: str | None) -> str:
    """``text`` without ``token`` and without URL query strings (signed upload URLs carry credentials there)."""
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    return text.replace(token, "<token>") if token else text


class _RedactFilter(logging.Filter):
    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.token), None
        return True


@contextmanager
def _redacted_logs(token: str) -> Iterator[None]:
    """huggingface_hub logs the URL of a retried request (signed, for uploads): redact every handler's records."""
    handlers = {*logging.getLogger("huggingface_hub").handlers, *logging.getLogger().handlers}
    redactor = _RedactFilter(token)
    for handler in handlers:
        handler.addFilter(redactor)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redactor)


@dataclass
class _Progress:
    published: str = ""  # the release commit, once the target branch points at it


@contextmanager
def _hub_errors(repo_id: str, revision: str, token: str) -> Iterator[_Progress]:
    """Turn Hub and network failures into one-line ``BiomedError``s that say what is live and never hold secrets."""
    progress = _Progress()
    try:
        yield progress
    except BiomedError:
        raise
    except Exception as exc:
        message = _describe_failure(exc, repo_id, revision, progress)
        if message is None:
            raise
        raise BiomedError(" ".join(redact(message, token).split())) from None


def _describe_failure(exc: BaseException, repo_id: str, revision: str, progress: _Progress) -> str | None:
    from huggingface_hub.utils import HFValidationError

    if progress.published:
        outcome = (
            f"the release is published on {repo_id}@{revision} ({progress.published[:10]}) but its tag is not set; "
            "rerun the same command to set it"
        )
    else:
        outcome = f"nothing was published on {repo_id}@{revision}; rerun the same command to resume"
    http, network = _hub_cause(exc)
    if http is not None:
        status = http.response.status_code if http.response is not None else None
        server = (http.server_message or "").strip().splitlines()
        said = f"{status}: {server[0]}" if server else f"{status}"
        if status == 401:
            return "the Hub rejected the token (401): run `hf auth login` again or set HF_TOKEN to a valid token"
        if status == 403:
            return (
                f"the token may not write to {repo_id} (403): use a token with write access to that namespace "
                f"(a fine-grained token needs 'write' on the repo); {outcome}"
            )
        if status == 404:
            return f"the Hub found no {repo_id} or branch {revision} ({said}); {outcome}"
        if status == 412:
            return f"{repo_id}@{revision} changed while pushing ({said}); {outcome}"
        if status is not None and (status >= 500 or status == 429):
            return f"the Hub failed ({said}); {outcome}"
        return f"the Hub refused a request ({said}); {outcome}"
    if network is not None:
        return f"the connection to the Hub failed ({type(network).__name__}: {network}); {outcome}"
    if isinstance(exc, OSError) and exc.filename:
        return f"could not read {exc.filename} ({exc.strerror}); {outcome}"
    if isinstance(exc, HFValidationError):
        return f"invalid name for the Hub: {exc}"
    return None


def _hub_cause(exc: BaseException):
    """The Hub HTTP error or the network error behind ``exc`` (huggingface_hub wraps some in RuntimeError)."""
    from huggingface_hub.errors import HfHubHTTPError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HfHubHTTPError):
            return exc, None
        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
            return None, exc
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            return None, exc
        exc = exc.__cause__ or exc.__context__
    return None, None
