"""Analytics over the event log and the timed subjects: measures computed by the database, and the
process-mining export (XES / CSV).

Kept import-light: the service layer imports :mod:`engine.analytics.figures` on every step.
"""
