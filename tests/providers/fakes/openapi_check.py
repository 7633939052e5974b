"""Requests checked against a kept copy of the provider's published OpenAPI document (`tests/data/specs/`).

A fake that mixes in `SpecChecked` asks `spec_problems(request)` before answering: the method and path must be an
operation of the document, the path parameters of their schema, the query parameters declared ones of the right
type (required ones present; arrays comma-separated when `explode: false`, as X's `expansions`), and the
JSON or multipart body valid for the operation's request schema (required fields, types, enums, patterns,
`additionalProperties: false`). The fake answers a violation with the provider's own 400, keeps the reason in
`spec_violations`, and fails the test when it stops (`close_spec_check`), even when the client swallowed the 400
(the avatar renderer falls back to the offline presenter on a refusal). A test that sends a bad request on purpose
takes the violations it expects with `take_spec_violations()`.
Where the kept copy lags behind a behaviour the provider documents, the fake lists an amendment
(`spec_amendments`: JSON pointer -> replacement, each with a comment naming the page); the copy itself stays as
published.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, OAS31Validator

from tests.providers.fakes.base import Recorded, multipart

SPECS = Path(__file__).resolve().parents[2] / "data" / "specs"
_METHODS = ("get", "post", "put", "patch", "delete")
_WHOLE = "(the whole value): "  # where a violation is of the body as a whole (said of a parameter: left out)


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    definition: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]


class OpenApiSpec:
    """One kept OpenAPI document (3.0 or 3.1) and the operations it declares."""

    def __init__(self, name: str, amendments: tuple[tuple[str, str], ...] = ()) -> None:
        self.name = name
        self.document: dict[str, Any] = json.loads((SPECS / name).read_text())
        for where, replacement in amendments:
            *parents, last = where.removeprefix("/").split("/")
            functools.reduce(lambda node, key: node[key], parents, self.document)[last] = json.loads(replacement)
        self.validator_class = OAS31Validator if str(self.document["openapi"]).startswith("3.1") else OAS30Validator
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            shared = tuple(item.get("parameters", []))
            regex = re.sub(r"\\\{([^}]+)\\\}", lambda m: f"(?P<{_group(m.group(1))}>[^/]+)", re.escape(template))
            for method in _METHODS:
                if method in item:
                    definition = item[method]
                    parameters = shared + tuple(definition.get("parameters", []))
                    self.operations.append(
                        Operation(method.upper(), template, re.compile(regex), definition, parameters)
                    )
        # A fixed path ("/talks") wins over a template that would also match it ("/talks/{id}" does not, but be sure).
        self.operations.sort(key=lambda op: op.template.count("{"))

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            current: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                current = current[part]
            node = current
        return node

    def problems(
        self, method: str, path: str, query: dict[str, list[str]], content_type: str, body: bytes
    ) -> list[str]:
        """Why the request is not one the document allows ([] when it is)."""
        operation = next((op for op in self.operations if op.method == method and op.pattern.fullmatch(path)), None)
        if operation is None:
            return [f"{method} {path} is not an operation of {self.name}"]
        where = f"{method} {operation.template}"
        match = operation.pattern.fullmatch(path)
        found = [f"{where}: {p}" for p in self._path_problems(operation, match.groupdict() if match else {})]
        found += [f"{where}: {p}" for p in self._query_problems(operation, query)]
        found += [f"{where}: {p}" for p in self._body_problems(operation, content_type, body)]
        return found

    def _validate(self, instance: Any, schema: dict[str, Any]) -> list[str]:
        resolved = self.resolve(schema)
        discriminator = resolved.get("discriminator") if isinstance(resolved, dict) else None
        if discriminator and isinstance(instance, dict):
            # A oneOf with a discriminator: check against the variant the value names, for a precise reason.
            target = discriminator.get("mapping", {}).get(str(instance.get(discriminator["propertyName"])))
            schema = {"$ref": target} if target else schema
        # Local refs ("#/components/...") resolve against the root: give the schema the document's components.
        validator = self.validator_class({**schema, "components": self.document.get("components", {})})
        error = best_match(validator.iter_errors(instance))
        if error is None:
            return []
        at = "/".join(str(part) for part in error.absolute_path)
        return [f"{at}: {error.message[:400]}" if at else f"{_WHOLE}{error.message[:400]}"]

    def _path_problems(self, operation: Operation, values: dict[str, str]) -> list[str]:
        found: list[str] = []
        for parameter in map(self.resolve, operation.parameters):
            if parameter.get("in") == "path" and _group(parameter["name"]) in values:
                schema = self.resolve(parameter.get("schema", {}))
                value = self._coerce(values[_group(parameter["name"])], schema)
                found += [f"path {parameter['name']}: {p.removeprefix(_WHOLE)}" for p in self._validate(value, schema)]
        return found

    def _query_problems(self, operation: Operation, query: dict[str, list[str]]) -> list[str]:
        declared = {p["name"]: p for p in map(self.resolve, operation.parameters) if p.get("in") == "query"}
        found = [f"query parameter {name!r} is not in the spec" for name in query if name not in declared]
        for name, parameter in declared.items():
            if name not in query:
                if parameter.get("required"):
                    found.append(f"required query parameter {name!r} is missing")
                continue
            schema = self.resolve(parameter.get("schema", {}))
            value: Any
            if "array" in self._types(schema):
                # Form style (the default for query): `a,b` when explode is false, else the name repeated.
                texts = query[name][0].split(",") if parameter.get("explode") is False else query[name]
                value = [self._coerce(text, self.resolve(schema.get("items", {}))) for text in texts]
            else:
                value = self._coerce(query[name][0], schema)
            found += [f"query {name}: {p.removeprefix(_WHOLE)}" for p in self._validate(value, schema)]
        return found

    def _body_problems(self, operation: Operation, content_type: str, body: bytes) -> list[str]:
        request_body = self.resolve(operation.definition.get("requestBody"))
        if not request_body:
            return ["the operation takes no body"] if body else []
        if not body:
            return ["the request body is required"] if request_body.get("required") else []
        media = content_type.split(";")[0].strip().lower()
        content = request_body.get("content", {})
        if media not in content:
            return [f"Content-Type {media or '(none)'} is not one of {sorted(content)}"]
        schema = content[media].get("schema", {})
        if media == "application/json":
            try:
                instance = json.loads(body)
            except ValueError as exc:
                return [f"the body is not JSON: {exc}"]
        elif media == "multipart/form-data":
            instance = self._form(content_type, body, self.resolve(schema))
        else:
            return []  # raw uploads: nothing to validate but the content type
        return self._validate(instance, schema)

    def _form(self, content_type: str, body: bytes, schema: dict[str, Any]) -> dict[str, Any]:
        """The multipart body as the JSON the schema describes: `name[]` and repeated names become arrays,
        files a placeholder string, numbers and booleans parsed."""
        properties = {name: self.resolve(s) for name, s in (schema.get("properties") or {}).items()}
        form: dict[str, Any] = {}
        for part in multipart(content_type, body):
            name = part.name.removesuffix("[]")
            value: Any = "<file>" if part.filename is not None else part.data.decode(errors="replace")
            prop = properties.get(name, {})
            if part.filename is None:
                value = self._coerce(value, prop.get("items", {}) if "array" in self._types(prop) else prop)
            if "array" in self._types(prop) or part.name.endswith("[]"):
                form.setdefault(name, []).append(value)
            else:
                form[name] = value
        return form

    def _types(self, schema: dict[str, Any]) -> set[str]:
        schema = self.resolve(schema)
        kinds = schema.get("type", [])
        found = {kinds} if isinstance(kinds, str) else set(kinds)
        for option in schema.get("anyOf", []) + schema.get("oneOf", []):
            found |= self._types(option)
        return found

    def _coerce(self, text: str, schema: dict[str, Any]) -> Any:
        kinds = self._types(schema)
        if "string" in kinds:
            return text
        if "boolean" in kinds and text in ("true", "false"):
            return text == "true"
        if kinds & {"number", "integer"}:
            try:
                number = float(text)
            except ValueError:
                return text
            return int(number) if number.is_integer() and "integer" in kinds else number
        return text


def _group(name: str) -> str:
    """A path parameter's name as a regex group name (`voice_id` stays, `file-id` becomes `file_id`)."""
    return re.sub(r"\W", "_", name)


@functools.cache
def spec(name: str, amendments: tuple[tuple[str, str], ...] = ()) -> OpenApiSpec:
    """The kept document `tests/data/specs/<name>` (with `amendments`), loaded once per session."""
    return OpenApiSpec(name, amendments)


class SpecChecked:
    """Mixed into a fake: `spec_problems` checks a request, `close_spec_check` fails the test on violations."""

    spec_name: str = ""
    spec_prefix: str = ""  # what the fake's paths carry before the document's ("/v1" for OpenAI)
    spec_amendments: ClassVar[dict[str, Any]] = {}  # JSON pointer into the document -> what the provider documents
    spec_violations: list[str]

    def spec_problems(self, request: Recorded) -> list[str]:
        if not hasattr(self, "spec_violations"):
            self.spec_violations = []
        query = {name: [value] for name, value in request.query.items()}
        path = request.path.removeprefix(self.spec_prefix) or "/"
        amendments = tuple((where, json.dumps(value)) for where, value in self.spec_amendments.items())
        found = spec(self.spec_name, amendments).problems(
            request.method, path, query, request.content_type, request.body
        )
        self.spec_violations.extend(found)
        return found

    def take_spec_violations(self) -> list[str]:
        """The violations seen so far (cleared: the test expected them)."""
        taken, self.spec_violations = list(getattr(self, "spec_violations", [])), []
        return taken

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the fake (the next class in line), then fail the test on requests that broke the spec."""
        super().__exit__(exc_type, exc, tb)  # type: ignore[misc]
        if exc_type is None and self.spec_name:
            self.close_spec_check()

    def close_spec_check(self) -> None:
        """AssertionError naming every request that broke the spec (then forgotten)."""
        found = self.take_spec_violations()
        if found:
            raise AssertionError(f"requests that break {self.spec_name}:\n  " + "\n  ".join(found))
