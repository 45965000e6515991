"""Drives examples/budget_app.py in a process of its own, configured only by the
environment as its docstring says; prints what a user would see, as JSON."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from examples.budget_app import app

with TestClient(app) as http:
    answers = [http.get("/ask", params={"q": "hi"}, headers={"X-User": "alice"}).status_code for _ in range(2)]
    shown = http.get("/spend", headers={"X-User": "alice"}).json()
    refused = http.get("/ask", params={"q": "hi"}, headers={"X-User": "alice"})
print(json.dumps({"answers": answers, "shown": shown, "refused": [refused.status_code, refused.json()]}))
