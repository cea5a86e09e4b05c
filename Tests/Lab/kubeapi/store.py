"""One cluster's objects and the API semantics Parvester relies on: create, read, list, update, merge
patch, server-side apply, delete, with resourceVersion, generation and managedFields as the real API
server keeps them, and the Status errors it answers with."""
import copy
import json
import re
import threading
import time
import uuid

from . import fieldsets
from .resources import Registry, Resource

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StatusError(Exception):
    """An API error, answered as a metav1.Status body."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource):
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def kind_qualified(resource):
    return f"{resource.kind}.{resource.group}" if resource.group else resource.kind


def not_found(resource, name):
    return StatusError(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                       {"name": name, "group": resource.group, "kind": resource.plural})


def invalid(resource, name, field, reason, message):
    return StatusError(422, "Invalid", f'{kind_qualified(resource)} "{name}" is invalid: {field}: {message}',
                       {"name": name, "group": resource.group, "kind": resource.kind,
                        "causes": [{"reason": reason, "message": message, "field": field}]})


class Cluster:
    """Everything behind one cluster's :6443. All access holds `lock`; controllers take it too."""

    def __init__(self, cluster_id):
        self.id = cluster_id
        self.lock = threading.RLock()
        self.registry = Registry()
        self.objects = {}   # (group, plural) -> {(namespace, name): object}
        self.managers = {}  # uid -> [{manager, operation, apiVersion, time, subresource, fields}]
        self.revision = 0
        self.node_index = {}  # node name -> last heartbeat time (from the RKE2 doubles)
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.put_system(self.builtin("", "v1", "namespaces"), {"metadata": {"name": name}})
        self.put_system(self.builtin("", "v1", "services"), {
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})

    # ------------------------------------------------------------------------------------ basics

    def builtin(self, group, version, plural):
        return self.registry.find(group, version, plural)

    def bucket(self, resource):
        return self.objects.setdefault(resource.key, {})

    def next_revision(self):
        self.revision += 1
        return str(self.revision)

    def present(self, resource, obj):
        """An object as the API returns it: in the version asked for, with managedFields rendered."""
        result = copy.deepcopy(obj)
        result["apiVersion"], result["kind"] = resource.group_version, resource.kind
        entries = self.managers.get(obj["metadata"]["uid"], [])
        if entries:
            result["metadata"]["managedFields"] = [
                {k: v for k, v in {"manager": e["manager"], "operation": e["operation"], "apiVersion": e["apiVersion"],
                                   "time": e["time"], "fieldsType": "FieldsV1",
                                   "fieldsV1": fieldsets.to_fields_v1(e["fields"]),
                                   "subresource": e.get("subresource")}.items() if v}
                for e in entries if e["fields"]]
        return result

    def put_system(self, resource, obj, manager=None):
        """Creates or replaces an object on the server's own behalf (bootstrap, controllers)."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            key = (meta.get("namespace", ""), meta["name"])
            existing = self.bucket(resource).get(key)
            if existing is not None:
                meta.update({k: existing["metadata"][k] for k in ("uid", "creationTimestamp", "generation")})
            else:
                meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now(), "generation": 1})
            self.defaults(resource, obj, existing)
            meta["resourceVersion"] = self.next_revision()
            obj["apiVersion"], obj["kind"] = resource.group_version, resource.kind
            self.bucket(resource)[key] = obj
            if manager and existing is None:
                self.managers[meta["uid"]] = [{"manager": manager, "operation": "Update", "apiVersion": resource.group_version,
                                               "time": now(), "fields": fieldsets.paths(obj)}]
            return obj

    def set_status(self, resource, obj, status):
        """A controller's status write: bumps resourceVersion only when something changed."""
        if obj.get("status") != status:
            obj["status"] = status
            obj["metadata"]["resourceVersion"] = self.next_revision()

    def defaults(self, resource, obj, existing):
        """What the API server fills in on write, for the kinds where Parvester reads it back."""
        if resource.kind == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif resource.kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if not spec.get("clusterIP"):
                previous = (existing or {}).get("spec", {}).get("clusterIP")
                spec["clusterIP"] = previous or f"10.43.{(self.revision // 250) % 250}.{self.revision % 250 + 2}"
            if spec["type"] in ("NodePort", "LoadBalancer"):
                before = {p.get("port"): p.get("nodePort") for p in ((existing or {}).get("spec") or {}).get("ports") or []}
                for port in spec.get("ports") or []:
                    if not port.get("nodePort"):
                        port["nodePort"] = before.get(port.get("port")) or self.free_node_port(obj)
        elif resource.kind in ("Deployment", "StatefulSet"):
            obj.setdefault("spec", {}).setdefault("replicas", 1)

    # ----------------------------------------------------------------------------------- reading

    def get(self, resource, namespace, name):
        with self.lock:
            obj = self.bucket(resource).get((namespace or "", name))
            if obj is None:
                raise not_found(resource, name)
            return self.present(resource, obj)

    def list(self, resource, namespace, label_selector=None, field_selector=None):
        with self.lock:
            items = []
            for (ns, name), obj in sorted(self.bucket(resource).items()):
                if namespace and ns != namespace:
                    continue
                if label_selector and not label_selector.matches(obj["metadata"].get("labels") or {}):
                    continue
                if field_selector and not field_selector(obj):
                    continue
                item = self.present(resource, obj)
                if not resource.origin:  # typed built-in lists carry no kind/apiVersion per item
                    item.pop("apiVersion"), item.pop("kind")
                items.append(item)
            return {"kind": resource.kind + "List", "apiVersion": resource.group_version,
                    "metadata": {"resourceVersion": str(self.revision)}, "items": items}

    # ----------------------------------------------------------------------------------- writing

    def check_body(self, resource, obj, namespace, name=None):
        if not isinstance(obj, dict):
            raise StatusError(400, "BadRequest", "the body of the request is not a Kubernetes object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        shown = meta.get("name") or name or ""
        if kind != resource.kind:
            raise invalid(resource, shown, "kind", "FieldValueInvalid",
                          f'Invalid value: "{kind}": must be {resource.kind} for {qualified(resource)}')
        if api_version != resource.group_version:
            raise invalid(resource, shown, "apiVersion", "FieldValueInvalid",
                          f'Invalid value: "{api_version}": must be {resource.group_version}')
        obj["metadata"] = meta
        if name is not None and meta.get("name") not in (None, name):
            raise StatusError(400, "BadRequest", f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if name is not None:
            meta["name"] = name
        if not meta.get("name") and not meta.get("generateName"):
            raise invalid(resource, "", "metadata.name", "FieldValueRequired", "Required value: name or generateName is required")
        if meta.get("name") and resource.group == "rbac.authorization.k8s.io":
            if meta["name"] in (".", "..") or "/" in meta["name"] or "%" in meta["name"]:
                raise invalid(resource, meta["name"], "metadata.name", "FieldValueInvalid",
                              f'Invalid value: "{meta["name"]}": may not contain \'/\' or \'%\'')
        elif meta.get("name") and not (len(meta["name"]) <= 253 and DNS_SUBDOMAIN.fullmatch(meta["name"])):
            raise invalid(resource, meta["name"], "metadata.name", "FieldValueInvalid",
                          f'Invalid value: "{meta["name"]}": a lowercase RFC 1123 subdomain must consist of lower case '
                          "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise StatusError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
            if not self.bucket(self.builtin("", "v1", "namespaces")).get(("", namespace)):
                raise StatusError(404, "NotFound", f'namespaces "{namespace}" not found',
                                  {"name": namespace, "kind": "namespaces"})
        else:
            meta.pop("namespace", None)
        self.validate_kind(resource, obj)

    NODE_PORTS = range(30000, 32768)  # the API server's default --service-node-port-range

    def node_ports_in_use(self, other_than):
        services = self.bucket(self.builtin("", "v1", "services"))
        meta = other_than["metadata"]
        return {p.get("nodePort") for (ns, name), svc in services.items() if (ns, name) != (meta.get("namespace", ""), meta.get("name"))
                for p in (svc.get("spec") or {}).get("ports") or [] if p.get("nodePort")}

    def free_node_port(self, obj):
        used = self.node_ports_in_use(obj)
        return next(p for p in self.NODE_PORTS if p not in used)

    def validate_kind(self, resource, obj):
        """The kind-specific validation a real API server does and a manifest can get wrong."""
        name = obj["metadata"].get("name", "")
        if resource.kind == "Service":
            used = self.node_ports_in_use(obj)
            for index, port in enumerate((obj.get("spec") or {}).get("ports") or []):
                node_port = port.get("nodePort")
                if node_port and node_port not in self.NODE_PORTS:
                    raise invalid(resource, name, f"spec.ports[{index}].nodePort", "FieldValueInvalid",
                                  f"Invalid value: {node_port}: provided port is not in the valid range. The range of valid ports is 30000-32767")
                if node_port and node_port in used:
                    raise invalid(resource, name, f"spec.ports[{index}].nodePort", "FieldValueInvalid",
                                  f"Invalid value: {node_port}: provided port is already allocated")
        if resource.kind in ("Deployment", "DaemonSet", "StatefulSet"):
            spec = obj.get("spec") or {}
            selector = (spec.get("selector") or {}).get("matchLabels")
            if not spec.get("selector"):
                raise invalid(resource, name, "spec.selector", "FieldValueRequired", "Required value")
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if selector and any(labels.get(k) != v for k, v in selector.items()):
                raise invalid(resource, name, "spec.template.metadata.labels", "FieldValueInvalid",
                              f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`")
        if resource.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            expected = f"{(spec.get('names') or {}).get('plural')}.{spec.get('group')}"
            if name != expected:
                raise invalid(resource, name, "metadata.name", "FieldValueInvalid",
                              f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
            if not any(v.get("storage") for v in spec.get("versions") or []):
                raise invalid(resource, name, "spec.versions", "FieldValueInvalid", "Invalid value: must have exactly one version marked as storage version")

    def generation_changed(self, resource, before, after):
        strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status", "apiVersion", "kind")}
        return strip(before) != strip(after)

    def commit(self, resource, key, before, after, dry_run):
        """Stores `after` when it differs from `before`; returns (object, changed)."""
        meta = after["metadata"]
        if before is not None and json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True):
            return before, False
        if before is not None and self.generation_changed(resource, before, after):
            meta["generation"] = before["metadata"].get("generation", 1) + 1
        if dry_run:
            return after, True
        meta["resourceVersion"] = self.next_revision()
        self.bucket(resource)[key] = after
        return after, True

    def create(self, resource, namespace, obj, manager, dry_run=False):
        with self.lock:
            self.check_body(resource, obj, namespace)
            meta = obj["metadata"]
            if not meta.get("name"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            key = (namespace if resource.namespaced else "", meta["name"])
            if key in self.bucket(resource):
                raise StatusError(409, "AlreadyExists", f'{qualified(resource)} "{meta["name"]}" already exists',
                                  {"name": meta["name"], "group": resource.group, "kind": resource.plural})
            for field in ("resourceVersion", "managedFields"):
                meta.pop(field, None)
            meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now(), "generation": 1})
            if resource.has_status:
                obj.pop("status", None)
            self.defaults(resource, obj, None)
            stored, _ = self.commit(resource, key, None, obj, dry_run)
            if not dry_run:
                self.managers[meta["uid"]] = [self.entry(manager, "Update", resource, fieldsets.paths(obj))]
                self.after_write(resource, stored)
            return self.present(resource, stored)

    def entry(self, manager, operation, resource, fields, subresource=None):
        return {"manager": manager, "operation": operation, "apiVersion": resource.group_version, "time": now(),
                "fields": set(fields), "subresource": subresource}

    def existing(self, resource, namespace, name):
        key = (namespace if resource.namespaced else "", name)
        obj = self.bucket(resource).get(key)
        if obj is None:
            raise not_found(resource, name)
        return key, obj

    def update(self, resource, namespace, name, obj, manager, subresource=None, dry_run=False):
        """PUT: replaces the object (or only its status), optimistic on resourceVersion."""
        with self.lock:
            key, before = self.existing(resource, namespace, name)
            self.check_body(resource, obj, namespace, name)
            wanted = obj["metadata"].get("resourceVersion")
            if wanted and wanted != before["metadata"]["resourceVersion"]:
                raise StatusError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(resource)} "{name}": the object '
                                  "has been modified; please apply your changes to the latest version and try again",
                                  {"name": name, "group": resource.group, "kind": resource.plural})
            after = self.merge_immutable(resource, before, obj, subresource)
            return self.finish_update(resource, key, before, after, manager, subresource, dry_run)

    def merge_immutable(self, resource, before, obj, subresource):
        """The server keeps identity and bookkeeping; a status write changes only status and a main
        write leaves status alone (for resources with a status subresource)."""
        if subresource == "status":
            after = copy.deepcopy(before)
            after["status"] = copy.deepcopy(obj.get("status"))
            return after
        after = copy.deepcopy(obj)
        for field in ("uid", "creationTimestamp", "generation", "resourceVersion"):
            after["metadata"][field] = before["metadata"][field]
        after["metadata"].pop("managedFields", None)
        if resource.has_status:
            after.pop("status", None)
            if "status" in before:
                after["status"] = copy.deepcopy(before["status"])
        self.defaults(resource, after, before)
        return after

    def finish_update(self, resource, key, before, after, manager, subresource, dry_run):
        stored, changed = self.commit(resource, key, before, after, dry_run)
        if changed and not dry_run:
            self.take_changed_fields(resource, before, stored, manager, subresource)
            self.after_write(resource, stored)
        return self.present(resource, stored)

    def take_changed_fields(self, resource, before, after, manager, subresource):
        """An Update takes ownership of what it changed, from whoever owned it, without conflicts."""
        include_status = subresource == "status"
        current = fieldsets.paths(after, include_status=include_status)
        changed = {p for p in current if fieldsets.differs(before, after, p)}
        entries = self.managers.setdefault(after["metadata"]["uid"], [])
        for e in entries:
            e["fields"] = {p for p in e["fields"] if p not in changed and (fieldsets.get(after, p) is not fieldsets._MISSING)}
        mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Update"
                     and e.get("subresource") == subresource), None)
        if mine is None:
            mine = self.entry(manager, "Update", resource, set(), subresource)
            entries.append(mine)
        mine["fields"] |= changed
        mine["time"] = now()

    def merge_patch(self, resource, namespace, name, patch, manager, subresource=None, dry_run=False):
        """application/merge-patch+json (RFC 7386)."""
        with self.lock:
            key, before = self.existing(resource, namespace, name)
            if not isinstance(patch, dict):
                raise StatusError(400, "BadRequest", "a merge patch must be a JSON object")
            patched = _merge_patch(copy.deepcopy(before), patch)
            patched.setdefault("apiVersion", resource.group_version)
            patched.setdefault("kind", resource.kind)
            self.check_body(resource, patched, namespace, name)
            after = self.merge_immutable(resource, before, patched, subresource)
            return self.finish_update(resource, key, before, after, manager, subresource, dry_run)

    def apply(self, resource, namespace, name, config, manager, force, subresource=None, dry_run=False):
        """Server-side apply: `manager` owns exactly the fields of `config`; a field another manager owns
        with a different value is a conflict unless forced (then its ownership moves to `manager`)."""
        with self.lock:
            if not manager:
                raise StatusError(400, "BadRequest", "PATCH requests with apply must have a fieldManager query parameter")
            self.check_body(resource, config, namespace, name)
            include_status = subresource == "status"
            applied = fieldsets.paths(config, include_status=include_status)
            if not include_status and resource.has_status:
                config.pop("status", None)
            key = (namespace if resource.namespaced else "", name)
            before = self.bucket(resource).get(key)
            if before is None:
                if subresource:
                    raise not_found(resource, name)
                return self.create_by_apply(resource, key, config, applied, manager, dry_run)

            entries = self.managers.setdefault(before["metadata"]["uid"], [])
            mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Apply"
                         and e.get("subresource") == subresource), None)
            others = [e for e in entries if e is not mine]
            conflicts = []
            for e in others:
                for path in sorted(e["fields"] & applied):
                    if fieldsets.differs(before, config, path):
                        conflicts.append((e, path))
            if conflicts and not force:
                raise _apply_conflict(conflicts)

            after = copy.deepcopy(before)
            owned_by_others = set().union(*[e["fields"] for e in others]) if others else set()
            if mine:
                stale = mine["fields"] - applied - owned_by_others
                for path in sorted(stale, key=len):  # list items before their fields
                    fieldsets.remove_and_prune(after, path, applied | owned_by_others)
            if include_status:
                body = {"status": config.get("status") or {}}
            else:
                body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
                body["metadata"] = {k: v for k, v in config["metadata"].items() if k not in fieldsets.UNOWNED_METADATA}
            fieldsets.merge(after, body)
            self.defaults(resource, after, before)
            stored, changed = self.commit(resource, key, before, after, dry_run)
            if dry_run:
                return self.present(resource, stored), changed
            for e, path in conflicts:  # forced: the field moves to us
                e["fields"].discard(path)
            if mine is None:
                mine = self.entry(manager, "Apply", resource, applied, subresource)
                entries.append(mine)
            if mine["fields"] != applied or changed:
                mine["fields"], mine["time"], mine["apiVersion"] = applied, now(), resource.group_version
            entries[:] = [e for e in entries if e["fields"]]
            if changed:
                self.after_write(resource, stored)
            return self.present(resource, stored), changed

    def create_by_apply(self, resource, key, config, applied, manager, dry_run):
        meta = config["metadata"]
        for field in ("resourceVersion", "managedFields", "uid"):
            meta.pop(field, None)
        meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now(), "generation": 1})
        self.defaults(resource, config, None)
        stored, _ = self.commit(resource, key, None, config, dry_run)
        if not dry_run:
            self.managers[meta["uid"]] = [self.entry(manager, "Apply", resource, applied)]
            self.after_write(resource, stored)
        return self.present(resource, stored), True

    def delete(self, resource, namespace, name, dry_run=False):
        with self.lock:
            key, obj = self.existing(resource, namespace, name)
            if not dry_run:
                del self.bucket(resource)[key]
                self.managers.pop(obj["metadata"]["uid"], None)
                self.after_delete(resource, obj)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": resource.group, "kind": resource.plural, "uid": obj["metadata"]["uid"]}}

    # ------------------------------------------------------------------------------ side effects

    def after_write(self, resource, obj):
        if resource.kind == "Namespace":
            sa = self.builtin("", "v1", "serviceaccounts")
            if ("" if not sa.namespaced else obj["metadata"]["name"], "default") not in self.bucket(sa):
                self.put_system(sa, {"metadata": {"name": "default", "namespace": obj["metadata"]["name"]}})

    def after_delete(self, resource, obj):
        if resource.kind == "Namespace":  # the namespace controller empties it
            for bucket_key, bucket in self.objects.items():
                for key in [k for k in bucket if k[0] == obj["metadata"]["name"]]:
                    self.managers.pop(bucket[key]["metadata"]["uid"], None)
                    del bucket[key]
        elif resource.kind == "CustomResourceDefinition":  # its objects go with it
            spec = obj.get("spec") or {}
            doomed = self.objects.pop((spec.get("group"), (spec.get("names") or {}).get("plural")), {})
            for o in doomed.values():
                self.managers.pop(o["metadata"]["uid"], None)
            self.registry.replace_origin(obj["metadata"]["name"], [])


def _merge_patch(target, patch):
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _apply_conflict(conflicts):
    causes = [{"type": "FieldManagerConflict", "message": f'conflict with "{e["manager"]}" using {e["apiVersion"]}',
               "field": fieldsets.describe(path)} for e, path in conflicts]
    count = len(conflicts)
    lines = "\n".join(f'- {c["message"]}: {c["field"]}' for c in causes)
    if count == 1:
        message = f'Apply failed with 1 conflict: {causes[0]["message"]}: {causes[0]["field"]}'
    else:
        message = f"Apply failed with {count} conflicts: conflicts with managers:\n{lines}"
    return StatusError(409, "Conflict", message, {"causes": causes})


def crd_resources(crd):
    """The resources an Established CRD serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    resources = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = (version.get("subresources") or spec.get("subresources") or {})
        resources.append(Resource(
            spec["group"], version["name"], names["plural"], names["kind"], spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular", names["kind"].lower()), short_names=tuple(names.get("shortNames") or ()),
            has_status="status" in subresources, origin=crd["metadata"]["name"]))
    return resources
