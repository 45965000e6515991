"""Provider instrumentations: one :class:`LLMInstrumentor` per SDK, all on one contract.

``OpenAIInstrumentor`` (:mod:`.openai`), ``AnthropicInstrumentor`` (:mod:`.anthropic`),
``GeminiInstrumentor`` (:mod:`.gemini`), ``BedrockInstrumentor`` (:mod:`.bedrock`) and
``LiteLLMInstrumentor`` (:mod:`.litellm`, LiteLLM's calls to any provider); the contract
a provider module fills is in :mod:`._contract`, the machinery they share in :mod:`._shared`.
"""
