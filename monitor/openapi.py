"""The HTTP API described once, as an OpenAPI 3.1 document: served at /api/v1/openapi.json, and
used by the API itself to check every request body and query before anything else reads it
(types, sizes, ranges, unknown keys). What a schema cannot say (a known domain, a window's end
after its start) the parsers of monitor/config.py say afterwards."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from monitor.samples import MAX_MINUTE_COUNT
from probes import OUTCOMES
from reports.errors import InputError
from reports.fields import MAX_DEPTH, KeyPath, Problems, nesting_depth
from reports.minutes import EXCLUSION_KINDS

MAX_BODY_BYTES = 1 << 20
MAX_SAMPLES = 10_000
MAX_TEXT = 2000
MAX_NAME = 100
MAX_LIST = 1000
TIMESTAMP = {"type": "string", "minLength": 1, "maxLength": 64,
             "description": "an RFC 3339 timestamp with an offset, e.g. 2026-11-15T02:00:00+09:00"}
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"}
FILE_NAME = {"type": "string", "minLength": 1, "maxLength": 200,
             "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.(json|md|csv|html)$"}
PERIOD = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "description": "YYYY-MM"}
COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_MINUTE_COUNT}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Window": {
        "type": "object", "additionalProperties": False, "required": ["kind", "start", "reason"],
        "properties": {
            "kind": {"enum": list(EXCLUSION_KINDS)},
            "domains": {"type": "array", "items": NAME, "maxItems": MAX_LIST},
            "contracts": {"type": "array", "items": NAME, "maxItems": MAX_LIST},
            "start": TIMESTAMP, "end": TIMESTAMP, "announced_at": TIMESTAMP, "announced_end": TIMESTAMP,
            "reason": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
        },
    },
    "WindowEnd": {
        "type": "object", "additionalProperties": False, "required": ["reason"],
        "properties": {"at": TIMESTAMP, "reason": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}},
    },
    "Notice": {
        "type": "object", "additionalProperties": False, "required": ["contract", "at"],
        "properties": {"contract": NAME, "domain": NAME, "at": TIMESTAMP, "kind": {"enum": ["customer", "provider"]},
                       "note": {"type": "string", "maxLength": MAX_TEXT}},
    },
    "Claim": {
        "type": "object", "additionalProperties": False, "required": ["contract", "period", "filed_at"],
        "properties": {"contract": NAME, "period": PERIOD, "filed_at": TIMESTAMP,
                       "reference": {"type": "string", "maxLength": MAX_TEXT},
                       "corrects": {"type": "string", "maxLength": 24,
                                    "description": "the id of an earlier claim of the same month it replaces"}},
    },
    "Sample": {
        "type": "object", "required": ["domain"],
        "description": "A request with its HTTP status or outcome (with ts), or a minute's aggregate "
                       "(minute, requests, errors): the line forms of `slamon ingest`.",
        "properties": {
            "domain": NAME, "ts": TIMESTAMP, "minute": TIMESTAMP,
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "outcome": {"enum": list(OUTCOMES)},
            "requests": COUNT, "errors": COUNT,
        },
    },
    "Samples": {
        "type": "object", "additionalProperties": False, "required": ["samples"],
        "properties": {"samples": {"type": "array", "minItems": 1, "maxItems": MAX_SAMPLES,
                                   "items": {"$ref": "#/components/schemas/Sample"}}},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(ok: int, description: str, *errors: int) -> dict[str, Any]:
    answers: dict[str, Any] = {str(ok): {"description": description, **_json({})}}
    for status in errors:
        answers[str(status)] = {"description": {400: "bad input, named", 401: "no or wrong token",
                                                404: "not found", 413: "body too large"}[status], **_json(ERROR)}
    return answers


READ: list[dict[str, list[str]]] = [{"bearer": []}, {}]  # open unless SLAMON_READ_TOKEN is set
WRITE: list[dict[str, list[str]]] = [{"bearer": []}]


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The API as OpenAPI 3.1."""
    def query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": required, "schema": schema}

    def path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema}

    window_ref = {"type": "string", "maxLength": 24, "description": "db-N or N"}

    def get(operation: str, summary: str, *, security: list[dict[str, list[str]]] = READ,
            parameters: tuple[dict[str, Any], ...] = (), content: str = "application/json",
            errors: tuple[int, ...] = (401,)) -> dict[str, Any]:
        answers = _responses(200, summary, *errors)
        if content != "application/json":
            answers["200"] = {"description": summary, "content": {content: {"schema": {"type": "string"}}}}
        return {"get": {"operationId": operation, "summary": summary, "security": security,
                        "parameters": list(parameters), "responses": answers}}

    def post(operation: str, summary: str, schema: str, ok: int, *,
             parameters: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
        return {"post": {"operationId": operation, "summary": summary, "security": WRITE,
                         "parameters": list(parameters), "requestBody": {"required": True, **_json(_ref(schema))},
                         "responses": _responses(ok, summary, 400, 401, 413)}}

    open_: list[dict[str, list[str]]] = [{}]
    paths: dict[str, Any] = {
        "/healthz": get("healthz", "the process answers", security=open_, errors=()),
        "/readyz": {"get": {"operationId": "readyz", "summary": "listening, observing, able to write",
                            "security": open_, "responses": {"200": {"description": "ready", **_json({})},
                                                             "503": {"description": "not ready", **_json({})}}}},
        "/metrics": get("metrics", "Prometheus exposition", security=open_, content="text/plain", errors=()),
        "/api/v1/openapi.json": get("openapi", "this document", security=open_, errors=()),
        "/": get("status_page", "the status page", content="text/html"),
        "/api/v1/status": get("status", "the daemon's state"),
        "/api/v1/contracts": get("contracts", "contracts and their month to date"),
        "/api/v1/contracts/{id}/accounting": get("accounting", "one contract's month to date",
                                                 parameters=(path("id", NAME),), errors=(401, 404)),
        "/api/v1/minutes": get("minutes", "stored minutes of one domain", errors=(400, 401), parameters=(
            query("domain", NAME, True), query("start", TIMESTAMP, True), query("end", TIMESTAMP, True))),
        "/api/v1/audit": get("audit", "the audit log"),
        "/api/v1/quarantine": get("quarantine", "minutes that could not be stored"),
        "/api/v1/windows": post("add_window", "add a window", "Window", 201),
        "/api/v1/windows/{id}/end": post("end_window", "end a window", "WindowEnd", 200,
                                         parameters=(path("id", window_ref),)),
        "/api/v1/notices": post("add_notice", "record a notice", "Notice", 201),
        "/api/v1/claims": {
            **get("claims", "claims filed", errors=(400, 401),
                  parameters=(query("contract", NAME), query("period", PERIOD))),
            **post("add_claim", "record a claim", "Claim", 201)},
        "/api/v1/samples": post("push_samples", "store samples for open minutes, all or none", "Samples", 202),
        "/reports/": get("reports_index", "published monthly reports", content="text/html"),
        "/reports/credits-{period}.csv": get("credits_csv", "credits due for a month", content="text/csv",
                                             parameters=(path("period", PERIOD),), errors=(401, 404)),
        "/reports/{period}/{name}": get("report_file", "one published report file", content="text/plain",
                                        parameters=(path("period", PERIOD), path("name", FILE_NAME)),
                                        errors=(401, 404)),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "slamon", "version": "1",
                 "description": "Reads need the read or the admin token when SLAMON_READ_TOKEN is set; changes "
                                "need the admin token. Every error is {\"error\": message}."},
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@cache
def _validator(name: str) -> Draft202012Validator:
    # the root carries the components so that "#/components/schemas/..." references resolve
    return Draft202012Validator({"components": {"schemas": SCHEMAS}, **SCHEMAS[name]})


def _describe(error: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    where: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    instance: Any = error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = set(schema.get("properties", {}))
        for key in sorted(str(k) for k in instance if k not in allowed):
            yield where + (key,), "unknown key"
    elif kind == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else "?"
        yield where + (missing,), "is required"
    elif kind == "enum":
        choices: Any = error.validator_value
        options = ", ".join(str(o) for o in choices)
        yield where, f"must be one of {options}; got {_short(error.instance)}"
    elif kind == "type":
        wanted = {"string": "a string", "integer": "an integer", "array": "a list", "object": "an object",
                  "number": "a number", "boolean": "true or false"}.get(str(error.validator_value), "another type")
        about = f" ({schema['description']})" if schema.get("description") else ""
        yield where, f"expected {wanted}{about}, got {_short(error.instance)}"
    elif kind in ("maximum", "minimum"):
        bound = "at most" if kind == "maximum" else "at least"
        yield where, f"must be {bound} {error.validator_value}; got {_short(error.instance)}"
    elif kind in ("maxLength", "maxItems"):
        unit = "characters" if kind == "maxLength" else "entries"
        yield where, f"too long: at most {error.validator_value} {unit}"
    elif kind == "minItems":
        yield where, f"needs at least {error.validator_value} entr{'y' if error.validator_value == 1 else 'ies'}"
    elif kind == "minLength":
        yield where, "must not be empty"
    elif kind == "pattern":
        yield where, f"not of the expected form ({schema.get('description') or error.validator_value}); " \
                     f"got {_short(error.instance)}"
    else:
        yield where, "is not valid here"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems(validator: Draft202012Validator, data: Any, root: KeyPath) -> Problems:
    problems = Problems()
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        for where, message in _describe(error):
            problems.add(root + where, message)
    return problems


def check(name: str, data: Any, root: KeyPath = ()) -> Problems:
    """Every way `data` breaks the schema `name`, as (key path, message) problems."""
    return _problems(_validator(name), data, root)


def check_value(schema: Mapping[str, Any], value: Any, root: KeyPath = ()) -> Problems:
    """Every way `value` breaks an inline schema (a query or path parameter's)."""
    return _problems(Draft202012Validator(dict(schema)), value, root)


def parse_json(raw: bytes | str, what: str = "body") -> Any:
    """JSON text -> data, or InputError saying why: not JSON, nested deeper than MAX_DEPTH, or a
    string that is not Unicode text (a lone surrogate: no UTF-8 database column can hold it)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InputError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} is not JSON: {_short(str(exc))}") from None
    if nesting_depth(data) > MAX_DEPTH:
        raise InputError(f"{what} nests deeper than {MAX_DEPTH} levels")
    if isinstance(raw, str) or b"\\u" in raw:  # from bytes, only a \u escape makes a lone surrogate
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"{what} is not Unicode text: a string holds a lone surrogate "
                             f"(an unpaired \\ud800-\\udfff escape)") from None
    return data
