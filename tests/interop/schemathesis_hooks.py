"""Schemathesis hooks for tests/openapi.rs: keep long-polls short.

`GET /v1/events?wait=S` may hold a request for up to 60 s by design; the run caps generated waits
at one second so it finishes in minutes. Nothing else is changed.
"""
import schemathesis


@schemathesis.hook
def map_query(ctx, query):
    wait = (query or {}).get("wait")
    if isinstance(wait, int) and not isinstance(wait, bool) and 1 < wait <= 60:
        query["wait"] = 1
    return query
