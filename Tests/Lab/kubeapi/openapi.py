"""OpenAPI v3 documents, as much of them as kubectl needs to talk to the lab (GET /openapi/v3 and
/openapi/v3/apis/GROUP/VERSION).

kubectl (v1.27 and later) reads them before `apply`: with --validate=strict it checks that the server
takes the `fieldValidation` query parameter on the resource's PATCH/POST/PUT operations (then the
server does the validating), and it maps kinds to schemas through `x-kubernetes-group-version-kind`.
The schemas here are permissive (any fields): the double validates on the server side, as the real one
does with fieldValidation=Strict. Rendered from the same table as discovery, so a kind is described
exactly when it is served.
"""
import hashlib
import json

QUERY = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
         for n in ("dryRun", "fieldManager", "fieldValidation", "pretty")]


def _gv_path(group, version):
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _schema_name(r):
    group = r.group or "core"
    return f"io.k8s.lab.{group}.{r.version}.{r.kind}"


def document(registry, group, version):
    resources = [r for r in registry.all() if r.group == group and r.version == version]
    if not resources:
        return None
    paths, schemas = {}, {}
    for r in resources:
        gvk = [{"group": r.group, "version": r.version, "kind": r.kind}]
        ref = {"$ref": f"#/components/schemas/{_schema_name(r)}"}
        body = {"content": {"application/json": {"schema": ref}, "application/apply-patch+yaml": {"schema": ref}}, "required": True}
        answer = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        prefix = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if r.namespaced else "")
        ops = lambda action, extra=None: dict({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk[0],
                                              "parameters": QUERY, "responses": answer}, **(extra or {}))
        paths[f"{prefix}/{r.plural}"] = {"get": ops("list"), "post": ops("post", {"requestBody": body})}
        paths[f"{prefix}/{r.plural}/{{name}}"] = {"get": ops("get"), "put": ops("put", {"requestBody": body}),
                                                   "patch": ops("patch", {"requestBody": body}), "delete": ops("delete")}
        schemas[_schema_name(r)] = {"type": "object", "x-kubernetes-group-version-kind": gvk,
                                    "x-kubernetes-preserve-unknown-fields": True,
                                    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                                   "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.36.2"}, "paths": paths,
            "components": {"schemas": schemas}}


def index(registry):
    """/openapi/v3: each group/version with the URL of its document, keyed by a hash of its content."""
    paths = {}
    seen = sorted({(r.group, r.version) for r in registry.all() if not r.origin.startswith("apiservice:")})
    for group, version in seen:
        doc = json.dumps(document(registry, group, version), sort_keys=True).encode()
        digest = hashlib.sha256(doc).hexdigest()[:16].upper()
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}
