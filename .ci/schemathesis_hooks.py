"""Schemathesis hooks for .ci/api-contract (loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks).

One adaptation, for what a schema cannot say:

- `cursor` (GET /v1/recordings) is a token the daemon issued, `next_cursor` of an earlier page, opaque to clients:
  the base64url of the sort key and the last recording id. No generator can produce a valid one from the schema,
  so a positive case (data the schema calls valid, which must be accepted) that carries a cursor gets a
  well-formed token for its sort order instead: the position after the newest (or longest) possible recording.
  Negative cases keep what was generated, which the daemon must refuse.
"""

import base64

import schemathesis

NIL_ID = "00000000-0000-0000-0000-000000000000"


def cursor_for(sort: str) -> str:
    key = "1e9" if sort.lstrip("-") == "duration" else "9999-12-31T23:59:59.999Z"
    if not sort.startswith("-"):
        key = "-1" if key == "1e9" else "0000-01-01T00:00:00.000Z"
    return base64.urlsafe_b64encode(f"{key}|{NIL_ID}".encode()).decode().rstrip("=")


@schemathesis.hook
def map_case(context, case):
    if case.operation.label != "GET /v1/recordings" or not case.query or "cursor" not in case.query:
        return case
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    sort = case.query.get("sort", "-started_at")
    if isinstance(sort, str):
        case.query["cursor"] = cursor_for(sort)
    return case
