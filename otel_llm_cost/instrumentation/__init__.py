"""Provider instrumentations: one ``BaseInstrumentor`` per SDK, sharing :mod:`._shared`."""
