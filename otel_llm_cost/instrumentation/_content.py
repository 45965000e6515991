"""Message text for ``gen_ai.input.messages`` / ``gen_ai.output.messages``.

Used only when the user turned content capture on
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``); with it off no provider
module calls anything here, so no prompt or completion text can reach a span. Only
text parts are kept: images, files and tool payloads are left out, whatever the
provider's shape (strings, dicts or SDK objects).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["texts_of", "input_messages_json", "output_messages_json"]


def texts_of(content: Any) -> list[str]:
    """The text parts of one message's content: a string, or a list of parts/blocks."""
    if isinstance(content, str):
        return [content]
    out = []
    for part in content if isinstance(content, (list, tuple)) else ():
        if isinstance(part, str):
            out.append(part)
            continue
        if isinstance(part, Mapping):
            text, thought = part.get("text"), part.get("thought")
        else:
            text, thought = getattr(part, "text", None), getattr(part, "thought", None)
        if isinstance(text, str) and not thought:  # a model's thoughts are not its answer
            out.append(text)
    return out


def input_messages_json(messages: Iterable[tuple[str, Any]]) -> str:
    """``(role, content)`` pairs as the semantic conventions' input-messages JSON."""
    return json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": t} for t in texts_of(content)]}
         for role, content in messages],
        ensure_ascii=False,
    )


def output_messages_json(texts: list[str], finish_reasons: list[str] | None) -> str:
    """The generated texts as the semantic conventions' output-messages JSON."""
    reason = finish_reasons[0] if finish_reasons else None
    return json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": t}], "finish_reason": reason}
         for t in texts],
        ensure_ascii=False,
    )
