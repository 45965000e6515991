"""A local fake of the OpenAI, Anthropic, Gemini and Bedrock HTTP APIs for tests.

Real SDKs talk real HTTP to a server on 127.0.0.1; tests script its answers::

    from tests.wire import WireServer, Reply

    with WireServer.start() as server:            # or the `wire` pytest fixture
        server.enqueue(Reply(text="Hi there", chunks=2))
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[...])
        server.requests[-1].body                  # the JSON the SDK sent

API
---
``WireServer.start() -> WireServer``; ``stop()``; context manager.
``base_url`` ("http://127.0.0.1:PORT"), ``openai_base_url`` (base_url + "/v1"), ``port``.
``enqueue(reply) -> Reply``, ``enqueue_many(replies)``: FIFO; a reply with
``path_contains`` only matches requests whose path+query contains it. An empty
queue yields ``Reply()`` (a default success for the route).
``requests -> list[RecordedRequest]`` (method, path, query, headers, body, raw),
``last_request``, ``pending`` (unconsumed replies), ``reset()``.

Routes: OpenAI ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``,
``/v1/completions`` (and Azure ``/openai/deployments/{d}/...``); Anthropic
``/v1/messages`` (``?beta=true`` too); Gemini
``/v1beta/models/{m}:generateContent|streamGenerateContent|embedContent|batchEmbedContents``;
Vertex AI ``…/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}`` (Gemini formats)
and ``…/publishers/anthropic/models/{m}:rawPredict|streamRawPredict`` (Anthropic formats);
Bedrock ``/model/{id}/converse|converse-stream|invoke|invoke-with-response-stream`` (see
``_bedrock``: per-family InvokeModel bodies, the AWS event-stream framing for streams).
Cohere ``/v2/chat`` and Ollama ``/api/chat``, non-streamed only (``_cohere``, ``_ollama``:
what the foreign-span tests need). Mistral's SDK and Groq's speak OpenAI's chat format:
``/v1/chat/completions`` and ``/openai/v1/chat/completions``.
A request with ``"stream": true`` (or ``:streamGenerateContent``) gets SSE.

Default usage (deterministic; ``Reply.usage`` is shallow-merged over it)
-----------------------------------------------------------------------
* input  = 10 + whitespace-separated words of the prompt text: string values of
  ``content``/``text``/``input``/``prompt``/``system``/``instructions`` keys and
  bare strings, inside ``messages``, ``input``, ``prompt``, ``system``,
  ``instructions``, ``contents``, ``systemInstruction``, ``requests``.
* output = number of text deltas (``Reply.deltas()``, also for non-streamed
  replies) + reasoning tokens + one per tool call.
* reasoning = words of ``Reply.thinking`` (OpenAI ``reasoning_tokens``, counted in
  completion/output tokens; Anthropic inside ``output_tokens``; Gemini
  ``thoughtsTokenCount``, *not* in ``candidatesTokenCount`` but in the total).
* cached = 0. Anthropic ``message_start`` reports ``output_tokens`` = 1 and
  ``message_delta`` the cumulative final count. Gemini stream chunks carry the
  running ``candidatesTokenCount``; the last chunk carries the final numbers.

Stream failures (``fail_after_chunks=n``, after the n-th text delta)
-------------------------------------------------------------------
``"drop"``: TCP shutdown mid chunked body; ``"error_event"``: the provider's
in-stream error (OpenAI ``data: {"error": ...}``, Responses ``error`` +
``response.failed``, Anthropic ``event: error``, Gemini ``data: {"error": ...}``);
``"malformed_json"``: a ``data:`` line that is not JSON.
"""

from ._common import PROMPT_OVERHEAD, RecordedRequest, Reply
from ._server import WireServer

__all__ = ["PROMPT_OVERHEAD", "RecordedRequest", "Reply", "WireServer"]
