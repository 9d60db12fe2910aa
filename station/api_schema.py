"""The online API's own description (/api/openapi.json): what a portal team integrates against.

FastAPI describes the routes it resolves; `POST /api/applications` is a plain Starlette route
(the hot path: no dependency injection), so its operation is written here: the body's
schema built from the form template (the same field names, types, choices and lengths the
validator checks), the bearer token, the Idempotency-Key header and every answer it gives.
"""

from __future__ import annotations

from fastapi.openapi.utils import get_openapi

from station import limits
from templates.spec import FieldSpec, load_form

BEARER = {"bearerAuth": []}

ERROR = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "One line: what happened and what to do."},
        "status": {"type": "integer"},
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
    },
}
PROBLEM = {
    "type": "object",
    "required": ["field", "code", "message_fr", "message_en"],
    "properties": {"field": {"type": ["string", "null"]}, "code": {"type": "string"},
                   "message_fr": {"type": "string"}, "message_en": {"type": "string"}},
}
INTAKE_RESULT = {
    "type": "object",
    "required": ["file_no", "status", "created"],
    "properties": {
        "file_no": {"type": "string", "description": "The file number, e.g. 26O-000123-7 (check digit last)."},
        "status": {"type": "string"}, "pages": {"type": "integer"},
        "needs_review": {"type": "array", "items": {"type": "string"}}, "created": {"type": "boolean"},
        "problems": {"type": "array", "items": {"type": "string"}},
        "postmark_date": {"type": ["string", "null"]},
    },
}
STATUS = {
    "type": "object",
    "properties": {k: {"type": ["string", "null"]} for k in ("file_no", "channel", "status", "priority_date", "priority_rule",
                                                             "submitted_at", "postmark_date", "received_date", "duplicate_of")}
    | {"rank": {"type": ["integer", "null"]}},
}


def field_schema(spec: FieldSpec) -> dict:
    """One field of the form as JSON Schema (the validator checks more: dates, rules between fields)."""
    about = {"description": f"{spec.label.fr} · {spec.label.en}"}
    if spec.type in ("checkbox", "signature"):
        return {"type": "boolean", **about}
    if spec.type == "choice":
        return {"type": "string", "enum": [o.value for o in spec.options], **about}
    if spec.type == "date":
        return {"type": "string", "format": "date", **about}
    schema = {"type": "string", **about}
    if spec.type == "digits":
        schema["pattern"] = "^[0-9]*$"
    if spec.cells:
        schema["maxLength"] = len(spec.cells)
    return schema


def application_schema() -> dict:
    form = load_form()
    return {
        "type": "object",
        "required": ["fields"],
        "properties": {
            "fields": {
                "type": "object",
                "description": f"The form {form.form_id} {form.version}, field by field (`csq forms layout --json`).",
                "required": [f.name for f in form.fields if f.required],
                "properties": {f.name: field_schema(f) for f in form.fields},
            },
            "submitted_at": {
                "type": "string", "format": "date-time",
                "description": "When the candidate submitted on the portal, with its offset (default: now). The "
                               "portal's claim, recorded with its token's id; later than now + "
                               f"{limits.API_CLOCK_SKEW_S // 60} min, or before the intake could matter: 422.",
            },
        },
    }


def _answer(description: str, schema: str = "Error") -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


SUBMIT = {
    "summary": "Register an online application",
    "operationId": "submit_application",
    "description": "The portal's import job posts one application. The same Idempotency-Key again returns the "
                   "same file (200); a 201 is sent only once the registration has committed.",
    "security": [BEARER],
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$", "maxLength": 128}}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Application"}}}},
    "responses": {
        "201": {**_answer("Registered: a new file.", "IntakeResult"),
                "headers": {"Location": {"schema": {"type": "string"}, "description": "/api/applications/{file_no}"}}},
        "200": _answer("The same Idempotency-Key and document again: the same file, nothing new.", "IntakeResult"),
        "400": _answer("Malformed JSON, a malformed Idempotency-Key."),
        "401": _answer("Missing or wrong token."),
        "409": _answer("The Idempotency-Key was used for another document."),
        "413": _answer(f"The body is over {limits.API_MAX_BODY_BYTES // 1024} KiB."),
        "415": _answer("Not application/json."),
        "422": _answer("The application is invalid: every problem, in French and English."),
        "503": _answer("The API has no token configured, or the registry is unavailable: retry with the same key."),
    },
}


def openapi(app) -> dict:
    """The document FastAPI makes of the API's routes, with the POST operation and the token added."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title="csq-intake online API", version="1", routes=app.routes,
                      description="Applications from the online portal into the CSQ registry. Every call needs "
                                  "Authorization: Bearer <token> (the server's CSQ_API_TOKEN).")
    # The API alone: the candidates' pages (HTML forms) are not an integration surface.
    doc["paths"] = {path: ops for path, ops in doc.get("paths", {}).items() if path.startswith("/api/")}
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(Application=application_schema(), IntakeResult=INTAKE_RESULT,
                                                Status=STATUS, Error=ERROR, Problem=PROBLEM)
    components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    doc["paths"].setdefault("/api/applications", {})["post"] = SUBMIT
    status = doc["paths"]["/api/applications/{file_no}"]["get"]
    status["security"] = [BEARER]
    status["responses"] = {"200": _answer("The file's status (no personal data).", "Status"),
                           "400": _answer("Not a file number (its check digit is wrong)."),
                           "401": _answer("Missing or wrong token."), "404": _answer("No such file."),
                           "503": _answer("The API has no token configured, or the registry is unavailable.")}
    app.openapi_schema = doc
    return doc
