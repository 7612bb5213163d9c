"""The LLM client against a fake TGI/OpenAI server on a real socket: retries, failures, concurrency, the token."""

import asyncio
import logging

import pytest
from dataset_builder.fake_llm_server import FakeLlmServer, default_answer

from biomed.dataset_builder.annotate.llm_client import EndpointError, LlmAnnotator, LlmClientConfig
from biomed.dataset_builder.annotate.prompt import load_prompt


TOKEN = "hf_CLIENTtestSECRET0123456789"


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    # huggingface_hub fetches an "agent harness" list from the Hub when it first builds a user agent: keep the
    # tests off the network.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY", True)


def fast_config(server: FakeLlmServer, **overrides) -> LlmClientConfig:
    values = dict(endpoint=server.url, backoff_initial_s=0.005, backoff_max_s=0.05, timeout_s=5.0)
    values.update(overrides)
    return LlmClientConfig(**values)


def annotate_many(cfg: LlmClientConfig, keys: list[str], token: str | None = TOKEN, concurrency: int | None = None):
    """Label one paragraph per key with ``concurrency`` workers (like run_annotate); answers by key."""

    async def main():
        answers = {}
        pending = iter(keys)
        async with LlmAnnotator(cfg, load_prompt(), token=token) as annotator:

            async def worker():
                for key in pending:
                    answers[key] = await annotator.annotate("Results", f"{key} Hepatocytes were isolated.", tag=key)

            await asyncio.gather(*(worker() for _ in range(concurrency or cfg.max_concurrency)))
        return answers

    return asyncio.run(main())


@pytest.mark.parametrize("api", ["chat", "generate"])
def test_valid_answers_on_both_apis(api):
    with FakeLlmServer(keep_bodies=True) as server:
        answers = annotate_many(fast_config(server, api=api), ["PARA-0001", "PARA-0002"])
    for key, answer in answers.items():
        expected = default_answer(key)
        assert (answer.status, answer.type, answer.domain, answer.educational_score) == (
            "ok",
            expected["type"],
            expected["domain"],
            expected["educational_score"],
        )
        assert answer.requests == 1 and answer.tokens_out > 0 and answer.latency_s > 0
    body = server.stats.bodies[0]
    if api == "chat":
        assert set(server.stats.paths) == {"/v1/chat/completions"}
        assert body["model"] == "meta-llama/Llama-3.1-70B-Instruct"
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "Section: Results" in body["messages"][1]["content"]
        # the schema reaches the server as TGI's response_format (huggingface_hub's translation for URLs)
        assert body["response_format"]["value"]["properties"]["educational_score"]["maximum"] == 5
        assert body["temperature"] == 0.0
        assert answers["PARA-0001"].tokens_in > 0
    else:
        assert set(server.stats.paths) == {"/"}
        assert body["parameters"]["grammar"]["type"] == "json"
        assert body["parameters"]["do_sample"] is False
        assert body["inputs"].startswith("<|begin_of_text|><|start_header_id|>system")
        assert answers["PARA-0001"].tokens_in is None  # TGI's /generate does not report prompt tokens


def test_transport_errors_are_retried_until_an_answer():
    faults = {
        "PARA-0001": ["429", "500", "503", "drop", "bad_body"],
        "PARA-0002": ["hang"],
        "PARA-0003": ["fenced"],
    }
    with FakeLlmServer(faults=faults) as server:
        answers = annotate_many(fast_config(server, timeout_s=0.3), list(faults))
    assert answers["PARA-0001"].status == "ok" and answers["PARA-0001"].requests == 6
    assert answers["PARA-0002"].status == "ok" and answers["PARA-0002"].requests == 2  # timed out once
    assert answers["PARA-0003"].status == "ok" and answers["PARA-0003"].requests == 1
    assert server.stats.attempts_by_key["PARA-0001"] == 6


def test_invalid_answers_are_retried_then_recorded_as_failures_never_defaults():
    faults = {
        "PARA-0001": ["malformed", "out_of_range", "ok"],
        "PARA-0002": ["malformed", "truncated", "out_of_range"],
        "PARA-0003": ["bad_label"] * 3,
        "PARA-0004": ["missing_field"] * 3,
    }
    with FakeLlmServer(faults=faults, keep_bodies=True) as server:
        answers = annotate_many(fast_config(server, invalid_answer_retries=2), list(faults))
    assert answers["PARA-0001"].status == "ok" and answers["PARA-0001"].requests == 3
    for key, reason in (("PARA-0002", "invalid_score"), ("PARA-0003", "invalid_type"), ("PARA-0004", "missing_field")):
        answer = answers[key]
        assert answer.status == "failed" and answer.reason == reason and not answer.transient
        assert (answer.type, answer.domain, answer.educational_score) == (None, None, None)
        assert answer.error.startswith(reason + ":") and answer.raw_answer  # the last answer is kept
        assert answer.requests == 3 == server.stats.attempts_by_key[key]
    assert "educational_score" in answers["PARA-0002"].raw_answer and "7" in answers["PARA-0002"].raw_answer
    # greedy first attempt, sampling for the retries (greedy decoding would repeat the invalid answer)
    temperatures = [b["temperature"] for b in server.stats.bodies if "PARA-0003" in b["messages"][1]["content"]]
    assert temperatures == [0.0, 0.7, 0.7]


def test_exhausted_transport_retries_give_a_transient_failure():
    faults = {"PARA-0001": ["503"] * 10, "PARA-0002": ["400"]}
    with FakeLlmServer(faults=faults) as server:
        answers = annotate_many(fast_config(server, max_retries=2), list(faults))
    assert (answers["PARA-0001"].status, answers["PARA-0001"].reason) == ("failed", "http_503")
    assert answers["PARA-0001"].transient and answers["PARA-0001"].requests == 3
    # a 400 is this paragraph's problem (e.g. too long for the model): no retry, not transient
    assert (answers["PARA-0002"].reason, answers["PARA-0002"].transient, answers["PARA-0002"].requests) == (
        "http_400",
        False,
        1,
    )


def test_retry_after_is_honoured():
    with FakeLlmServer(faults={"PARA-0001": ["429_retry_after"]}) as server:
        cfg = fast_config(server, backoff_max_s=5.0)

        async def timed():
            async with LlmAnnotator(cfg, load_prompt(), token=TOKEN) as annotator:
                loop = asyncio.get_running_loop()
                start = loop.time()
                answer = await annotator.annotate("", "PARA-0001 text")
                return answer, loop.time() - start

        answer, elapsed = asyncio.run(timed())
    assert answer.status == "ok" and elapsed >= 1.0  # the server asked for 1 s; our own backoff is ≤ 5 ms


def test_refusing_endpoint_stops_the_run():
    with FakeLlmServer(faults={"PARA-0001": ["401"]}) as server:
        with pytest.raises(EndpointError, match="HTTP 401"):
            annotate_many(fast_config(server), ["PARA-0001"])


def test_unreachable_endpoint_stops_after_consecutive_failures():
    with FakeLlmServer() as server:
        url = server.url
    cfg = LlmClientConfig(endpoint=url, max_retries=1, backoff_initial_s=0.001, abort_after_failures=3)
    with pytest.raises(EndpointError, match="3 paragraphs in a row failed"):
        annotate_many(cfg, [f"PARA-{i:04d}" for i in range(10)], concurrency=1)


def test_concurrency_is_bounded():
    keys = [f"PARA-{i:04d}" for i in range(120)]
    with FakeLlmServer(latency_s=0.03) as server:
        answers = annotate_many(fast_config(server, max_concurrency=8), keys, concurrency=20)
    assert all(a.status == "ok" for a in answers.values()) and len(answers) == 120
    # 20 callers, but the client's pool holds at most max_concurrency connections
    assert server.stats.max_in_flight == 8


def test_token_is_sent_but_never_logged_printed_or_kept(caplog, capsys):
    faults = {"PARA-0001": ["echo_token", "echo_token"], "PARA-0002": ["echo_token", "ok"]}
    caplog.set_level(logging.DEBUG)
    with FakeLlmServer(faults=faults) as server:
        answers = annotate_many(fast_config(server, max_retries=1), list(faults))
    assert server.stats.auth_headers == {f"Bearer {TOKEN}"}  # the server did get it
    failed = answers["PARA-0001"]
    assert failed.status == "failed" and "Bearer ***" in failed.error
    captured = capsys.readouterr()
    kept = " ".join(str(value) for answer in answers.values() for value in vars_of(answer))
    for text in (caplog.text, captured.out, captured.err, kept):
        assert TOKEN not in text
    assert "retry 1/1" in caplog.text  # the retry was logged, masked


def vars_of(answer):
    return [getattr(answer, name) for name in answer.__slots__]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="http"):
        LlmClientConfig(endpoint="localhost:8080")
    with pytest.raises(ValueError, match="max_concurrency"):
        LlmClientConfig(max_concurrency=0)
