"""The Ollama backend through the official client against the demo server over a real socket."""

from __future__ import annotations

from collections.abc import Callable

import ollama
import pytest

from council.llm.base import BackendUnreachable, ChatStats, LLMTimeout, ModelNotFound, StreamError
from council.llm.demo_server import DemoServer
from council.llm.ollama_backend import OllamaBackend


@pytest.fixture
def make_backend(closing) -> Callable[..., OllamaBackend]:
    return lambda host, **kwargs: closing(OllamaBackend(host, **kwargs))


MESSAGES = [{"role": "system", "content": "You are the Skeptic, a careful debugger."},
            {"role": "user", "content": "Why does my cache return stale values?"}]


def test_stream_chat_yields_deltas_then_final_stats(make_backend,
        demo_server: DemoServer) -> None:
    chunks = list(make_backend(demo_server.url).stream_chat("qwen2.5:3b", MESSAGES,
                                                             {"temperature": 0.2}))
    *deltas, stats = chunks
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert isinstance(stats, ChatStats)
    assert stats.done_reason == "stop" and stats.eval_count == len(deltas)
    assert stats.total_duration_ns and stats.eval_duration_ns and stats.prompt_eval_count
    assert {"cache", "stale", "values"} & set("".join(deltas).replace(".", " ").split())


def test_demo_answers_are_deterministic_and_differ_by_persona(make_backend,
        demo_server: DemoServer) -> None:
    backend = make_backend(demo_server.url)

    def answer(messages: list[dict[str, str]]) -> str:
        return "".join(c for c in backend.stream_chat("qwen2.5:3b", messages)
                       if isinstance(c, str))

    other = [{"role": "system", "content": "You are the Explorer."}, MESSAGES[1]]
    assert answer(MESSAGES) == answer(MESSAGES)
    assert answer(MESSAGES) != answer(other)


def test_num_predict_cuts_the_answer_with_done_reason_length(make_backend,
        demo_server: DemoServer) -> None:
    *deltas, stats = make_backend(demo_server.url).stream_chat("qwen2.5:3b", MESSAGES,
                                                                {"num_predict": 5})
    assert len(deltas) == 5 and stats.done_reason == "length"


def test_list_models_and_health(make_backend,
        demo_server: DemoServer) -> None:
    backend = make_backend(demo_server.url)
    assert {"qwen2.5:3b", "qwen2.5:7b"} <= {m.name for m in backend.list_models()}
    health = backend.health()
    assert health.reachable and health.version and health.version.endswith("-demo")


@pytest.mark.parametrize("fault,error,message", [
    ("refuse", StreamError, "broke"),
    ("error_midstream", StreamError, "during the stream"),
    ("reset_midstream", StreamError, "broke"),
    ("http_500", StreamError, "HTTP 500"),
    ("malformed", StreamError, "not JSON"),
    ("hang", LLMTimeout, "sent nothing for too long"),
])
def test_faults_become_clear_errors(make_backend, demo_server: DemoServer, fault: str, error: type,
                                    message: str) -> None:
    demo_server.set_fault(f"fault-{fault}", fault)
    backend = make_backend(demo_server.url, timeout=0.5)
    with pytest.raises(error, match=message):
        list(backend.stream_chat(f"fault-{fault}", MESSAGES))


def test_unknown_model_says_how_to_pull_it(make_backend,
        demo_server: DemoServer) -> None:
    with pytest.raises(ModelNotFound, match=r"Run `ollama pull llama9:70b`"):
        list(make_backend(demo_server.url).stream_chat("llama9:70b", MESSAGES))


def test_unreachable_server_says_how_to_start_it(make_backend) -> None:
    backend = make_backend("http://127.0.0.1:9", timeout=2)
    with pytest.raises(BackendUnreachable, match="ollama serve"):
        list(backend.stream_chat("qwen2.5:3b", MESSAGES))
    health = backend.health()
    assert not health.reachable and "ollama serve" in health.error


def test_demo_server_speaks_the_rest_of_the_api_to_the_official_client(
        demo_server: DemoServer, tmp_path) -> None:
    with ollama.Client(host=demo_server.url) as client:
        _exercise_official_client(client, demo_server, tmp_path)


def _exercise_official_client(client: ollama.Client, demo_server: DemoServer, tmp_path) -> None:
    assert client.show("qwen2.5:3b").details.family == "qwen2"
    parts = list(client.generate(model="qwen2.5:7b", prompt="Name a colour", stream=True))
    assert parts[-1].done and parts[-1].eval_count == len(parts) - 1
    assert "qwen2.5:7b" in {m.model for m in client.ps().models}
    assert client.pull("phi3:mini").status == "success"
    assert "phi3:mini" in {m.model for m in client.list().models}
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF demo adapter")
    digest = client.create_blob(adapter)
    assert client.create(model="persona-test", from_="qwen2.5:3b",
                         adapters={"adapter.gguf": digest}).status == "success"
    assert demo_server.has_model("persona-test")
    with pytest.raises(ollama.ResponseError):
        client.create(model="persona-bad", from_="qwen2.5:3b",
                      adapters={"a.gguf": "sha256:" + "1" * 64})


def test_unknown_fault_name_is_refused(demo_server: DemoServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        demo_server.set_fault("x", "explode")


def test_prompt_sizes_are_learned_from_what_the_server_reports(make_backend,
                                                               demo_server: DemoServer) -> None:
    """Ollama's tokenizer is out of reach: the prompt_eval_count it reports teaches the app how
    many tokens a character costs on that model, so history is trimmed by what it reports."""
    backend = make_backend(demo_server.url)
    long_prompt = [{"role": "user", "content": "tokens " * 100}]
    first_guess = backend.count_tokens("qwen2.5:3b", long_prompt)
    assert first_guess >= len(long_prompt[0]["content"]) / 3  # cautious: 3 characters a token
    list(backend.stream_chat("qwen2.5:3b", long_prompt))
    # the demo reports a token per word (7 characters here): fewer than first guessed, but the
    # estimate never assumes more than 4.5 characters a token
    learned = backend.count_tokens("qwen2.5:3b", long_prompt)
    assert len(long_prompt[0]["content"]) / 4.5 <= learned < first_guess
    assert backend.count_tokens("qwen2.5:7b", long_prompt) == first_guess, "learned per model"
