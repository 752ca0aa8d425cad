"""The demo server behaves as Ollama's source says Ollama does, seen through the official client.

The facts come from ollama/ollama v0.33.0-rc2 (server/create.go, server/routes.go,
server/sched.go, convert/, fs/ggml/type.go) and v0.24.0 (runner/ollamarunner): see the docstrings
of council/llm/demo_server.py, demo_models.py and demo_scheduler.py. The tests assert statuses
and behaviour, not the imitation's wording.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ollama
import pytest

from council.llm.demo_server import DemoServer

LOAD_SECONDS = 0.2
HI = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(load_seconds=LOAD_SECONDS) as demo:
        yield demo


@pytest.fixture
def client(server: DemoServer) -> Iterator[ollama.Client]:
    with ollama.Client(host=server.url) as official:
        yield official


def blob(client: ollama.Client, tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return client.create_blob(path)


def adapter_model(client: ollama.Client, tmp_path: Path, name: str, base: str) -> None:
    digest = blob(client, tmp_path, f"{name}.gguf", b"GGUF adapter for " + name.encode())
    assert client.create(model=name, from_=base,
                         adapters={"adapter.gguf": digest}).status == "success"


def safetensors_files(client: ollama.Client, tmp_path: Path, architecture: str = "Qwen2ForCausalLM",
                      tokenizer: bool = True) -> dict[str, str]:
    config = {"architectures": [architecture], "num_hidden_layers": 24, "hidden_size": 896,
              "num_attention_heads": 14, "num_key_value_heads": 2}
    files = {"config.json": blob(client, tmp_path, "config.json", json.dumps(config).encode()),
             "model.safetensors": blob(client, tmp_path, "model.safetensors", b"\0" * 4096)}
    if tokenizer:
        files["tokenizer.json"] = blob(client, tmp_path, "tokenizer.json", b"{}")
    return files


def stream_until_error(parts: Iterator[ollama.ProgressResponse]) -> tuple[list[str],
                                                                          ollama.ResponseError]:
    """The progress statuses a streamed create sent before its error."""
    statuses = []
    with pytest.raises(ollama.ResponseError) as raised:
        for part in parts:
            statuses.append(part.status)
    return statuses, raised.value


def loaded(client: ollama.Client) -> list[str]:
    return [model.model for model in client.ps().models]


def load_seconds(client: ollama.Client, model: str) -> float:
    return client.chat(model=model, messages=HI).load_duration / 1e9


# --- the scheduler -----------------------------------------------------------------------------

def test_ps_lists_only_loaded_models_with_their_context(client: ollama.Client) -> None:
    assert loaded(client) == []
    client.chat(model="qwen2.5:3b", messages=HI, options={"num_ctx": 8192})
    (entry,) = client.ps().models
    listed = {model.model: model for model in client.list().models}
    assert entry.model == "qwen2.5:3b" and entry.context_length == 8192
    assert entry.size == listed["qwen2.5:3b"].size and entry.size_vram == entry.size
    assert entry.details.family == "qwen2" and entry.expires_at is not None


def test_loading_beyond_max_loaded_models_evicts_the_least_recently_used(
        server: DemoServer, client: ollama.Client) -> None:
    server.load_seconds = 0.0
    server.max_loaded_models = 2
    for name in ("a", "b", "c"):
        server.add_model(f"{name}:1b")
    client.chat(model="a:1b", messages=HI)
    client.chat(model="b:1b", messages=HI)
    client.chat(model="a:1b", messages=HI)  # a is now the more recently used
    client.chat(model="c:1b", messages=HI)
    assert sorted(loaded(client)) == ["a:1b", "c:1b"]


def test_adapter_models_share_their_base_runner_and_a_new_adapter_set_reloads_it(
        client: ollama.Client, tmp_path: Path) -> None:
    adapter_model(client, tmp_path, "persona-a", "qwen2.5:3b")
    adapter_model(client, tmp_path, "persona-b", "qwen2.5:3b")
    assert load_seconds(client, "persona-a") >= LOAD_SECONDS
    assert load_seconds(client, "persona-a") < LOAD_SECONDS / 4, "already loaded"
    assert load_seconds(client, "persona-b") >= LOAD_SECONDS, "other adapter: reloaded"
    assert loaded(client) == ["persona-b:latest"], "one runner for the base and its adapters"
    assert load_seconds(client, "qwen2.5:3b") >= LOAD_SECONDS, "no adapter: reloaded"


def test_a_merged_model_has_its_own_runner(client: ollama.Client, tmp_path: Path) -> None:
    client.create(model="merged", files=safetensors_files(client, tmp_path))
    client.chat(model="qwen2.5:3b", messages=HI)
    assert load_seconds(client, "merged") >= LOAD_SECONDS
    assert sorted(loaded(client)) == ["merged:latest", "qwen2.5:3b"]


@pytest.mark.parametrize("parallel,overlap", [(1, False), (2, True)])
def test_num_parallel_queues_the_requests_beyond_it(server: DemoServer, parallel: int,
                                                   overlap: bool) -> None:
    server.load_seconds = 0.0
    server.token_delay = 0.02
    server.num_parallel = parallel
    spans: list[tuple[float, float]] = []

    def ask() -> None:
        with ollama.Client(host=server.url) as own:
            parts = iter(own.chat(model="qwen2.5:3b", messages=HI, stream=True))
            next(parts)
            first = time.monotonic()
            list(parts)
            spans.append((first, time.monotonic()))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # queued, the second begins as the first ends (give or take the final line in flight);
    # side by side, both begin together, well before the first ends
    (first_start, first_end), (second_start, _) = sorted(spans)
    assert (second_start < (first_start + first_end) / 2) is overlap


# --- families ----------------------------------------------------------------------------------

def test_show_tells_family_and_shape_as_a_gguf_does(server: DemoServer,
                                                    client: ollama.Client) -> None:
    info = client.show("qwen2.5:7b").modelinfo
    assert info["general.architecture"] == "qwen2"
    assert (info["qwen2.block_count"], info["qwen2.attention.head_count"],
            info["qwen2.attention.head_count_kv"], info["qwen2.embedding_length"],
            info["qwen2.context_length"]) == (28, 28, 4, 3584, 32768)
    server.add_model("gemma3:4b")
    server.add_model("custom:1b", family="llama")
    assert client.show("gemma3:4b").details.family == "gemma3"
    assert "gemma3.attention.head_count_kv" in client.show("gemma3:4b").modelinfo
    assert client.show("custom:1b").modelinfo["general.architecture"] == "llama"
    sizes = {model.model: model.size for model in client.list().models}
    assert 1.8e9 < sizes["qwen2.5:3b"] < 2.1e9 and 4.5e9 < sizes["qwen2.5:7b"] < 4.9e9


def test_an_adapter_model_keeps_its_base_family_and_lists_its_adapter(
        server: DemoServer, client: ollama.Client, tmp_path: Path) -> None:
    server.add_model("qwen3:4b")
    adapter_model(client, tmp_path, "persona-q3", "qwen3:4b")
    shown = client.show("persona-q3")
    assert shown.details.family == "qwen3"
    assert any(line.startswith("ADAPTER ") for line in shown.modelfile.splitlines())


# --- the older runner's adapter failure --------------------------------------------------------

@pytest.mark.parametrize("version,qwen3_fails", [("0.24.0", True), ("0.12.6", True),
                                                 ("0.30.0", False), ("0.0.0", False)])
def test_an_old_release_creates_an_ollama_engine_adapter_model_that_fails_its_first_chat(
        server: DemoServer, client: ollama.Client, tmp_path: Path, version: str,
        qwen3_fails: bool) -> None:
    server.version = version
    server.add_model("qwen3:4b")
    adapter_model(client, tmp_path, "persona-q3", "qwen3:4b")
    adapter_model(client, tmp_path, "persona-q2", "qwen2.5:3b")
    assert client.show("persona-q3").details.family == "qwen3"
    if qwen3_fails:
        with pytest.raises(ollama.ResponseError) as raised:
            list(client.chat(model="persona-q3", messages=HI, stream=True))
        assert raised.value.status_code == 500 and "lora" in raised.value.error
        assert "persona-q3:latest" not in loaded(client)
    else:
        assert client.chat(model="persona-q3", messages=HI).message.content
    assert client.chat(model="persona-q2", messages=HI).message.content


# --- create ------------------------------------------------------------------------------------

def test_a_missing_base_fails_after_the_pull_starts(client: ollama.Client) -> None:
    statuses, error = stream_until_error(client.create(model="x", from_="nowhere:1b",
                                                       stream=True))
    assert statuses and error.status_code == -1
    with pytest.raises(ollama.ResponseError) as raised:
        client.create(model="x", from_="nowhere:1b")
    assert raised.value.status_code == 500


@pytest.mark.parametrize("architecture,tokenizer,fact", [
    ("FooForCausalLM", True, "FooForCausalLM"),
    ("Qwen2ForCausalLM", False, "tokenizer")])
def test_an_import_the_converter_cannot_read_fails_mid_stream(
        client: ollama.Client, tmp_path: Path, architecture: str, tokenizer: bool,
        fact: str) -> None:
    files = safetensors_files(client, tmp_path, architecture, tokenizer)
    statuses, error = stream_until_error(client.create(model="x", files=files, stream=True))
    assert statuses == ["converting model"] and error.status_code == -1
    assert fact in error.error
    with pytest.raises(ollama.ResponseError) as raised:
        client.create(model="x", files=files)
    assert raised.value.status_code == 500


def test_quantize_is_read_in_any_case_and_a_bad_type_fails_mid_stream(
        client: ollama.Client, tmp_path: Path) -> None:
    files = safetensors_files(client, tmp_path)
    assert client.create(model="f16", files=files).status == "success"
    assert client.create(model="q4", files=files, quantize="q4_k_m").status == "success"
    assert client.show("q4").details.quantization_level == "Q4_K_M"
    sizes = {model.model: model.size for model in client.list().models}
    assert sizes["q4:latest"] < sizes["f16:latest"]
    statuses, error = stream_until_error(client.create(model="bad", files=files,
                                                       quantize="q5_x", stream=True))
    assert "converting model" in statuses and error.status_code == -1
    assert not any(model.model == "bad:latest" for model in client.list().models)


def test_adapter_conversion_errors_are_bad_requests(client: ollama.Client,
                                                    tmp_path: Path) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.create(model="x", from_="qwen2.5:3b", adapters={"a.gguf": "sha256:" + "1" * 64})
    assert raised.value.status_code == 400
    two = {f"{n}.gguf": blob(client, tmp_path, f"{n}.gguf", b"GGUF " + n.encode())
           for n in ("one", "two")}
    with pytest.raises(ollama.ResponseError) as raised:
        client.create(model="x", from_="qwen2.5:3b", adapters=two)
    assert raised.value.status_code == 400


@pytest.mark.parametrize("version", ["0.12.6", "0.34.1", "0.0.0"])
def test_every_version_creates_adapter_models_unless_told_to_refuse(
        server: DemoServer, client: ollama.Client, tmp_path: Path, version: str) -> None:
    server.version = version
    adapter_model(client, tmp_path, "persona", "qwen2.5:3b")
    assert client.chat(model="persona", messages=HI).message.content


@pytest.mark.parametrize(("mode", "streamed_before", "stream_status"),
                         [("http_500", False, 500), ("stream_error", True, -1)])
def test_adapter_refusal(server: DemoServer, client: ollama.Client, tmp_path: Path, mode: str,
                         streamed_before: bool, stream_status: int) -> None:
    """Refused before any content (an HTTP 500), or as an error line after progress lines;
    without streaming both are an HTTP 500."""
    server.adapter_refusal = mode
    digest = blob(client, tmp_path, "a.gguf", b"GGUF adapter")
    statuses, error = stream_until_error(client.create(
        model="p", from_="qwen2.5:3b", adapters={"a.gguf": digest}, stream=True))
    assert bool(statuses) is streamed_before and error.status_code == stream_status
    with pytest.raises(ollama.ResponseError) as raised:
        client.create(model="p", from_="qwen2.5:3b", adapters={"a.gguf": digest})
    assert raised.value.status_code == 500
    assert not server.has_model("p")


def test_an_unknown_adapter_refusal_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="adapter_refusal"):
        DemoServer(adapter_refusal="sometimes")


# --- delete ------------------------------------------------------------------------------------

def test_delete_removes_a_model_and_a_missing_one_is_404(client: ollama.Client,
                                                         tmp_path: Path) -> None:
    adapter_model(client, tmp_path, "persona", "qwen2.5:3b")
    assert client.delete("persona").status == "success"
    assert "persona:latest" not in {model.model for model in client.list().models}
    with pytest.raises(ollama.ResponseError) as raised:
        client.delete("persona")
    assert raised.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as raised:
        client.show("persona")
    assert raised.value.status_code == 404
