"""
schemathesis hooks for the Modelship fuzz suite (loaded through SCHEMATHESIS_HOOKS by
test/runtime/fuzz-schemathesis.test.ts and test/fuzz/run.ts).

Checks, on top of schemathesis' schema conformance checks:
- modelship_no_server_error: no status >= 500, except 503 that carries Retry-After (deliberate
  overload shedding); schemathesis' own not_a_server_error is excluded so overload is judged here.
- modelship_error_body: every 4xx and 503 body is JSON {"error": "<non-empty string>"}.
"""

import json

import schemathesis
from hypothesis.internal import lambda_sources


# CPython 3.11.7 raises "SystemError: AST constructor recursion depth mismatch" when hypothesis
# describes a lambda (ast.parse) deep inside schemathesis' recursive strategies; the description is
# only used for a repr, so fall back to a plain one instead of aborting the coverage phase.
_describe = lambda_sources.lambda_description


def _safe_lambda_description(f):
    try:
        return _describe(f)
    except (SystemError, RecursionError):
        return "lambda"


lambda_sources.lambda_description = _safe_lambda_description


@schemathesis.check
def modelship_no_server_error(ctx, response, case):
    status = response.status_code
    if status >= 500 and not (status == 503 and response.headers.get("retry-after")):
        raise AssertionError(f"server error {status}: {response.text[:300]!r}")


@schemathesis.check
def modelship_error_body(ctx, response, case):
    status = response.status_code
    if not (400 <= status < 500 or status == 503):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} body is not JSON: {response.content[:300]!r}")
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"].strip():
        raise AssertionError(f'{status} body is not {{"error": "<non-empty string>"}}: {response.content[:300]!r}')
