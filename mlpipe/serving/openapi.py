"""The OpenAPI document of a serving app (`/openapi.json`) and a page that shows it (`/docs`).

The request schemas carry the model's signature: one property per feature, typed as the
signature says. The page is plain HTML rendered here (no script from elsewhere).

This module imports nothing from mlpipe, so bundles can ship it as is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import kind_of

_JSON_TYPES = {"float": {"type": "number"}, "int": {"type": "integer"},
               "bool": {"type": "boolean"}, "str": {"type": "string"}, "any": {}}


def _record(features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    properties = {str(f["name"]): {**_JSON_TYPES[kind_of(str(f.get("dtype", "")))],
                                   "nullable": True, "description": str(f.get("dtype", ""))}
                  for f in features}
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def _json(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": dict(schema)}}}


def document(title: str, version: str, features: Sequence[Mapping[str, Any]]
             ) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app serving a model with this signature."""
    record = {"$ref": "#/components/schemas/Record"}
    records = {"type": "array", "items": record}
    names = [str(f["name"]) for f in features]
    split = {"type": "object", "required": ["columns", "data"], "properties": {
        "columns": {"type": "array", "items": {"type": "string", "enum": names}},
        "data": {"type": "array", "items": {"type": "array"}}, "index": {"type": "array"}}}
    invocation = {"type": "object", "properties": {
        "dataframe_split": split, "dataframe_records": records, "instances": records,
        "inputs": records, "params": {"type": "object"}}, "minProperties": 1}
    errors = {str(code): {"description": text, **_json({"$ref": "#/components/schemas/Error"})}
              for code, text in ((400, "malformed body"), (401, "missing or wrong token"),
                                 (413, "body over the size limit"),
                                 (415, "unsupported Content-Type"),
                                 (422, "rows that do not fit the signature"),
                                 (504, "request timed out"))}
    predictions = {"type": "object", "properties": {"predictions": {"type": "array"}}}
    invocation_body = {"content": {
        "application/json": {"schema": invocation}, "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string",
                                                      "format": "binary"}}}}
    probe = {"responses": {"200": {"description": "the server is up"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {
            "/invocations": {"post": {
                "summary": "Predict (MLflow's scoring protocol)", "requestBody": invocation_body,
                "responses": {"200": {"description": "predictions", **_json(predictions)},
                              **errors}}},
            "/predict": {"post": {
                "summary": "Predict, with class probabilities unless ?probabilities=false",
                "requestBody": _json({"oneOf": [
                    records, {"type": "object", "properties": {"records": records}}]}),
                "responses": {"200": {"description": "predictions (and probabilities)",
                                      **_json({"type": "object"})}, **errors}}},
            "/metadata": {"get": {"summary": "The model: name, version, digest, signature",
                                  "responses": {"200": {"description": "metadata"}}}},
            "/health": {"get": {"summary": "Liveness probe", **probe}},
            "/ping": {"get": {"summary": "Liveness probe (MLflow, SageMaker)", **probe}},
            "/version": {"get": {"summary": "The server's version", **probe}},
            "/metrics": {"get": {"summary": "Prometheus metrics", **probe}},
        },
        "components": {"schemas": {
            "Record": _record(features),
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}}}},
    }


def page(doc: Mapping[str, Any]) -> str:
    """An HTML page listing the endpoints and the signature of `doc`."""
    info = doc["info"]
    rows = "".join(
        f"<tr><td><code>{method.upper()} {html.escape(path)}</code></td>"
        f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
        for path, ops in doc["paths"].items() for method, op in ops.items())
    record = doc["components"]["schemas"]["Record"]["properties"]
    fields = "".join(f"<tr><td><code>{html.escape(name)}</code></td>"
                     f"<td>{html.escape(spec.get('description', ''))}</td></tr>"
                     for name, spec in record.items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(info['title'])}</title></head><body>"
            f"<h1>{html.escape(info['title'])} {html.escape(str(info['version']))}</h1>"
            f"<h2>Endpoints</h2><table>{rows}</table>"
            f"<h2>Inputs (one record)</h2><table>{fields}</table>"
            f"<p>The full document: <a href='/openapi.json'>/openapi.json</a></p>"
            f"<pre>{html.escape(json.dumps(doc['components'], indent=2))}</pre>"
            f"</body></html>")
