"""Grafana dashboards, alert rules and the helpers that generate and check them.

A package (not just a folder) so tests and the end-to-end suite can import
``grafana.queries`` and ``grafana.contract`` with the project root on sys.path.
"""
