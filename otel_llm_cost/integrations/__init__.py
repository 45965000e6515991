"""Integrations with application frameworks that sit above the LLM SDKs.

They add no telemetry of their own: the provider instrumentations make the spans and
the session layer adds them up. An integration only decides *which* calls belong
together (one HTTP request, one batch input) and hands the totals to the framework's
own response format. See docs/langserve.md.
"""
