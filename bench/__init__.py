"""Overhead, micro and memory benchmarks of otel-llm-cost next to its peers: ``python -m bench``."""
