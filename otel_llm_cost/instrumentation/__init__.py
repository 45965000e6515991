"""Provider instrumentations: one :class:`LLMInstrumentor` per SDK, all on one contract.

``OpenAIInstrumentor`` (:mod:`.openai`), ``AnthropicInstrumentor`` (:mod:`.anthropic`)
and ``GeminiInstrumentor`` (:mod:`.gemini`); the contract a provider module fills is
in :mod:`._contract`, the machinery they share in :mod:`._shared`.
"""
