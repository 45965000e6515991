"""The counts of request texts already seen (``tokens.count_prompt_text``): the same
figure as counting afresh, bounded by entries and characters, and dropped with the
vocabularies they were made with."""
import pytest

from otel_llm_cost import tokens
from otel_llm_cost._estimate_openai import Generated, estimate_openai


@pytest.fixture
def empty_cache(monkeypatch):
    tokens._forget_encodings()
    yield
    tokens._forget_encodings()


def _fresh(text: str, name: str) -> int:
    return len(tokens._build(name).encode(text, disallowed_special=()))


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_a_text_seen_again_counts_as_counted_afresh(empty_cache, name):
    texts = ["", "user", "Hello, world!", "<|endoftext|> is text here", "naïve café " * 50, "x" * 10_000]
    first = [tokens.count_prompt_text(t, name) for t in texts]
    # Equal but not identical strings: the lookup is by value.
    again = [tokens.count_prompt_text("".join(list(t)), name) for t in texts]
    assert first == again == [_fresh(t, name) for t in texts]
    assert ("o200k_base" if name == "cl100k_base" else "cl100k_base", "user") not in tokens._seen


def test_the_two_vocabularies_are_kept_apart(empty_cache):
    text = "Привет, как дела? こんにちは世界"
    assert tokens.count_prompt_text(text, "cl100k_base") == _fresh(text, "cl100k_base")
    assert tokens.count_prompt_text(text, "o200k_base") == _fresh(text, "o200k_base")
    assert _fresh(text, "cl100k_base") != _fresh(text, "o200k_base")


def test_bounded_by_entries(empty_cache, monkeypatch):
    monkeypatch.setattr(tokens, "SEEN_MAX_ENTRIES", 10)
    for i in range(35):
        assert tokens.count_prompt_text(f"message number {i}", "o200k_base") == _fresh(f"message number {i}",
                                                                                      "o200k_base")
        assert len(tokens._seen) <= 10
    assert len(tokens._seen) == 5  # cleared at the 11th, 21st and 31st


def test_bounded_by_characters_and_a_huge_text_is_not_kept(empty_cache, monkeypatch):
    monkeypatch.setattr(tokens, "SEEN_MAX_CHARS", 1000)
    for n in range(5):
        tokens.count_prompt_text(str(n) * 200, "o200k_base")
    assert tokens._seen_chars == 1000 and len(tokens._seen) == 5
    tokens.count_prompt_text("x" * 200, "o200k_base")  # would cross the bound: starts again
    assert tokens._seen_chars == 200 and list(tokens._seen) == [("o200k_base", "x" * 200)]
    huge = "c" * 251  # over a quarter of the bound: a one-off, counted but not kept
    assert tokens.count_prompt_text(huge, "o200k_base") == _fresh(huge, "o200k_base")
    assert ("o200k_base", huge) not in tokens._seen and tokens._seen_chars == 200


def test_a_conversation_estimates_the_same_with_its_history_seen(empty_cache):
    """Each turn resends the history; the estimate of each turn is the same whether its
    texts were seen before or not."""
    reply = Generated().response({"object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Fine, thanks."}, "finish_reason": "stop"}]})
    history = [{"role": "system", "content": "You answer briefly."}]
    warm = []
    for turn in range(6):
        history = [*history, {"role": "user", "content": f"Question {turn}: how are you today?"}]
        warm.append(estimate_openai("gpt-4o-mini", {"messages": list(history)}, reply).input_tokens)
        history = [*history, {"role": "assistant", "content": f"Answer {turn}: fine."}]
    assert len(tokens._seen) > 0
    cold = []
    for n in range(1, 7):
        tokens._seen.clear()
        cold.append(estimate_openai("gpt-4o-mini", {"messages": history[:2 * n]}, reply).input_tokens)
    assert warm == cold
    assert warm == sorted(warm) and len(set(warm)) == 6
