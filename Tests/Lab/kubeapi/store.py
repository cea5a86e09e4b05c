"""One cluster's objects and the API semantics Parvester relies on: create, read, list, update, merge
patch, server-side apply, delete, with resourceVersion, generation and managedFields as the real API
server keeps them, and the Status errors it answers with."""
import base64
import copy
import pickle
import json
import re
import threading
import time
import uuid

from . import defaults as api_defaults, fieldsets, schema
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
        if not self.reason:  # an internal error names no reason (typed-patch failures)
            del body["reason"]
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(resource):
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def kind_qualified(resource):
    return f"{resource.kind}.{resource.group}" if resource.group else resource.kind


def not_found(resource, name):
    details = {"name": name, "group": resource.group, "kind": resource.plural}
    if not resource.group:
        del details["group"]  # the core group is not named
    return StatusError(404, "NotFound", f'{qualified(resource)} "{name}" not found', details)


def invalid(resource, name, field, reason, message):
    return invalid_all(resource, name, [(field, reason, message)])


def invalid_all(resource, name, causes):
    """422 Invalid with every cause, as the API server lists them: `X "n" is invalid: [a: m, b: m]`."""
    listed = [f"{field}: {message}" for field, _, message in causes]
    text = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    return StatusError(422, "Invalid", f'{kind_qualified(resource)} "{name}" is invalid: {text}',
                       {"name": name, "group": resource.group, "kind": resource.kind,
                        "causes": [{"reason": reason, "message": message, "field": field} for field, reason, message in causes]})


# Kinds whose objects carry metadata.generation (a spec the server versions); ConfigMaps, Namespaces,
# Nodes, Secrets and Services do not.
GENERATION_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob", "PodDisruptionBudget",
                    "CustomResourceDefinition", "Ingress", "Pod", "PriorityClass", "StorageClass"}


def has_generation(resource):
    return resource.kind in GENERATION_KINDS or bool(resource.origin)


def manager_order(entry):
    """How kube-apiserver sorts managedFields: Apply before Update, then by time (seconds), manager, subresource."""
    return (entry["operation"], int(entry.get("seconds", 0)), entry["manager"], entry.get("subresource") or "")


TERMINATING_CAUSE = "unable to create new content in namespace {ns} because it is being terminated"


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
        self.node_boots = {}  # node name -> the boot id of the RKE2 process that registered it
        self.etcd_members = set()  # server node names with an etcd member (see controllers.etcd_members)
        self.etcd_removing = None  # (node name, since) of the member removal in progress
        self.node_restarts = {}  # node name -> when its RKE2 process last restarted (NotReady for a moment)
        self.events = []  # (revision, type, resource key, namespace, object) for watches, newest last
        self.changed = threading.Condition(self.lock)
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.put_system(self.builtin("", "v1", "namespaces"), {"metadata": {"name": name}})
        self.put_system(self.builtin("", "v1", "services"), {
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})

    # ------------------------------------------------------------------------------ etcd snapshots

    SNAPSHOT_FIELDS = ("objects", "managers", "revision", "node_boots")

    def snapshot(self):
        """What an etcd snapshot holds: every object (Nodes included), their managers, the served CRDs
        and the revision; as text (base64 of a pickle), for the RKE2 double to write to a file."""
        state = {name: getattr(self, name) for name in self.SNAPSHOT_FIELDS}
        state["extra"] = self.registry.extra
        return base64.b64encode(pickle.dumps(state)).decode()

    def restore(self, text, node):
        """`--cluster-reset-restore-path`: the objects as the snapshot had them, and an etcd cluster of one
        member, the restoring server (the others must clear their data and join again)."""
        state = pickle.loads(base64.b64decode(text))
        for name in self.SNAPSHOT_FIELDS:
            setattr(self, name, state[name])
        self.registry.extra = state["extra"]
        self.etcd_members = {node}
        self.etcd_removing = None
        self.events = []  # watches resume from a relist, as after a real restore
        self.revision += 1
        self.changed.notify_all()

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
        entries = sorted(self.managers.get(obj["metadata"]["uid"], []), key=manager_order)
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
                meta.update({k: existing["metadata"][k] for k in ("uid", "creationTimestamp", "generation") if k in existing["metadata"]})
            else:
                meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now()})
                if has_generation(resource):
                    meta["generation"] = 1
            self.defaults(resource, obj, existing)
            meta["resourceVersion"] = self.next_revision()
            obj["apiVersion"], obj["kind"] = resource.group_version, resource.kind
            self.bucket(resource)[key] = obj
            if manager and existing is None:
                self.managers[meta["uid"]] = [self.entry(manager, "Update", resource, fieldsets.paths(obj, kind=resource.kind))]
            self.record("MODIFIED" if existing is not None else "ADDED", resource, obj)
            return obj

    def set_status(self, resource, obj, status, manager=None):
        """A controller's status write: bumps resourceVersion only when something changed. A named
        manager (kube-apiserver for CRDs, kube-controller-manager for workloads) owns status fields."""
        if obj.get("status") != status:
            obj["status"] = status
            obj["metadata"]["resourceVersion"] = self.next_revision()
            if manager:
                entries = self.managers.setdefault(obj["metadata"]["uid"], [])
                mine = next((e for e in entries if e["manager"] == manager and e.get("subresource") == "status"), None)
                if mine is None:
                    mine = self.entry(manager, "Update", resource, set(), "status")
                    entries.append(mine)
                mine["fields"] = {p for p in fieldsets.paths({"status": status}, include_status=True)}
            self.record("MODIFIED", resource, obj)

    # ------------------------------------------------------------------------------------ events

    def record(self, kind, resource, obj):
        """Keeps the change for watches (the last 5000), as the API would show it then, and wakes them."""
        item = self.present(resource, obj)
        self.events.append((int(obj["metadata"]["resourceVersion"]), kind, resource.key, obj["metadata"].get("namespace", ""), item))
        del self.events[:-5000]
        self.changed.notify_all()

    def events_after(self, position, resource, namespace, label_selector, timeout, field_selector=None):
        """The watch events of a resource (in a namespace) after a revision, waiting up to `timeout`."""
        with self.lock:
            def pending():
                return [e for e in self.events if e[0] > position and e[2] == resource.key and (not namespace or e[3] == namespace)
                        and (label_selector is None or label_selector.matches(e[4]["metadata"].get("labels") or {}))
                        and (field_selector is None or field_selector(e[4]))]
            found = pending()
            if not found and timeout > 0:
                self.changed.wait(timeout=min(timeout, 1.0))
                found = pending()
            return [{"type": kind, "object": copy.deepcopy(obj)} for _, kind, _, _, obj in found]

    def defaults(self, resource, obj, existing):
        """What the API server fills in on write, for the kinds where Parvester reads it back."""
        if resource.kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Pod") and not resource.origin:
            api_defaults.workload(resource.kind, obj)
        if resource.kind == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = (existing or {}).get("status") or {"phase": "Active"}
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
        elif resource.kind == "CustomResourceDefinition":
            spec = obj.setdefault("spec", {})
            names = spec.setdefault("names", {})
            if names.get("kind"):
                names.setdefault("singular", names["kind"].lower())
                names.setdefault("listKind", names["kind"] + "List")
            spec.setdefault("conversion", {"strategy": "None"})
            obj["status"] = (existing or {}).get("status") or {
                "conditions": None, "acceptedNames": {"plural": "", "kind": ""},
                "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")]}
        elif resource.kind == "PodDisruptionBudget":
            obj["status"] = (existing or {}).get("status") or {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    # ----------------------------------------------------------------------------------- reading

    def get(self, resource, namespace, name):
        with self.lock:
            obj = self.bucket(resource).get((namespace or "", name))
            if obj is None:
                raise not_found(resource, name)
            return self.present(resource, obj)

    def list(self, resource, namespace, label_selector=None, field_selector=None, limit=None, token=None, with_kind=False):
        """A LIST, paged like kube-apiserver's: `limit` matching items, and a `continue` token when any
        object (matching or not) follows the last one in key order. The token pins the list's
        resourceVersion to the first page's. Custom resource lists always carry `continue` ("")."""
        with self.lock:
            revision, after = str(self.revision), None
            if token:
                try:
                    revision, after = json.loads(__import__("base64").urlsafe_b64decode(token.encode()).decode())
                    after = tuple(after)
                except (ValueError, TypeError):
                    raise StatusError(400, "BadRequest", "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
            keys = [k for k in sorted(self.bucket(resource)) if (not namespace or k[0] == namespace) and (after is None or k > after)]
            items, more = [], False
            for index, key in enumerate(keys):
                obj = self.bucket(resource)[key]
                if label_selector and not label_selector.matches(obj["metadata"].get("labels") or {}):
                    continue
                if field_selector and not field_selector(obj):
                    continue
                item = self.present(resource, obj)
                if not resource.origin and not with_kind:  # typed built-in lists carry no kind/apiVersion per item
                    item.pop("apiVersion"), item.pop("kind")
                items.append(item)
                if limit and len(items) == limit:
                    more = index + 1 < len(keys)
                    after = key
                    break
            meta = {"resourceVersion": revision}
            if more:
                meta["continue"] = __import__("base64").urlsafe_b64encode(json.dumps([revision, list(after)]).encode()).decode()
            elif resource.origin:
                meta["continue"] = ""
            return {"kind": resource.kind + "List", "apiVersion": resource.group_version, "metadata": meta, "items": items}

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
                          "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                          "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
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
            causes = []
            spec = obj.get("spec") or {}
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            if not spec.get("selector"):
                causes.append(("spec.selector", "FieldValueRequired", "Required value"))
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not spec.get("selector") or any(labels.get(k) != v for k, v in selector.items()):
                causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                               f"Invalid value: {json.dumps(labels, separators=(',', ':'))}: `selector` does not match template `labels`"))
            for index, volume in enumerate(((spec.get("template") or {}).get("spec") or {}).get("volumes") or []):
                for source in ("secret", "configMap", "projected", "downwardAPI"):
                    mode = (volume.get(source) or {}).get("defaultMode")
                    if isinstance(mode, int) and not 0 <= mode <= 0o777:
                        causes.append((f"spec.template.spec.volumes[{index}].{source}.defaultMode", "FieldValueInvalid",
                                       f"Invalid value: {mode}: must be a number between 0 and 0777 (octal), both inclusive"))
            if causes:
                raise invalid_all(resource, name, causes)
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

    def commit(self, resource, key, before, after, dry_run, managers_changed=False):
        """Stores `after` when it differs from `before`, or when only its managedFields changed (that is a
        write too: a new resourceVersion); returns (object, changed)."""
        meta = after["metadata"]
        if before is not None and json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True):
            if not managers_changed or dry_run:
                return before, False
        if before is not None and "generation" in before["metadata"] and self.generation_changed(resource, before, after):
            meta["generation"] = before["metadata"].get("generation", 1) + 1
        if dry_run:
            return after, True
        meta["resourceVersion"] = self.next_revision()
        self.bucket(resource)[key] = after
        self.record("MODIFIED" if before is not None else "ADDED", resource, after)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and resource.kind != "Namespace":
            self.remove(resource, key, after)  # the last finalizer went: deleted now
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
            self.check_not_terminating(resource, namespace, meta["name"])
            for field in ("resourceVersion", "managedFields"):
                meta.pop(field, None)
            meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now()})
            if has_generation(resource):
                meta["generation"] = 1
            if resource.has_status:
                obj.pop("status", None)
            self.defaults(resource, obj, None)
            if not dry_run:  # before the commit, so that watchers see the object with its managers
                self.managers[meta["uid"]] = [self.entry(manager, "Update", resource, fieldsets.paths(obj, kind=resource.kind))]
            stored, _ = self.commit(resource, key, None, obj, dry_run)
            if not dry_run:
                self.after_write(resource, stored)
            return self.present(resource, stored)

    def entry(self, manager, operation, resource, fields, subresource=None):
        return {"manager": manager, "operation": operation, "apiVersion": resource.group_version, "time": now(),
                "seconds": int(time.time()), "fields": set(fields), "subresource": subresource}

    def check_not_terminating(self, resource, namespace, name):
        """No new objects in a namespace being deleted (403 Forbidden, as the NamespaceLifecycle admission says)."""
        if not resource.namespaced or not namespace:
            return
        ns = self.bucket(self.builtin("", "v1", "namespaces")).get(("", namespace))
        if ns is not None and ns["metadata"].get("deletionTimestamp"):
            raise StatusError(403, "Forbidden", f'{qualified(resource)} "{name}" is forbidden: ' + TERMINATING_CAUSE.format(ns=namespace),
                              {"name": name, "kind": resource.plural, "causes": [
                                  {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated", "field": "metadata.namespace"}]})

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
        for field in ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp"):
            if field in before["metadata"]:
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
        current = fieldsets.paths(after, include_status=include_status, kind=resource.kind)
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
            applied = fieldsets.paths(config, include_status=include_status, kind=resource.kind)
            if not include_status and resource.has_status:
                config.pop("status", None)
            key = (namespace if resource.namespaced else "", name)
            before = self.bucket(resource).get(key)
            if before is None:
                if subresource:
                    raise not_found(resource, name)
                return self.create_by_apply(resource, key, config, applied, manager, dry_run)

            entries = self.managers.setdefault(before["metadata"]["uid"], [])
            managers_changed = False
            if not entries:
                # An object nobody manages (created before server-side apply, or by an apply that owned
                # nothing): the server first gives every field it has to "before-first-apply".
                entries.append(self.entry("before-first-apply", "Update", resource, fieldsets.paths(before, kind=resource.kind)))
                managers_changed = not dry_run
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
            if dry_run:
                stored, changed = self.commit(resource, key, before, after, dry_run)
                return self.present(resource, stored), changed
            snapshot = [(e["manager"], e["operation"], e.get("subresource"), frozenset(e["fields"])) for e in entries]
            for e, path in conflicts:  # forced: the field moves to us
                e["fields"].discard(path)
            if mine is None:
                mine = self.entry(manager, "Apply", resource, applied, subresource)
                if json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True):
                    mine["time"], mine["seconds"] = None, 0  # co-owning what is already there: kube-apiserver records no time
                entries.append(mine)
            if mine["fields"] != applied:
                mine["fields"], mine["time"], mine["seconds"], mine["apiVersion"] = applied, now(), int(time.time()), resource.group_version
            entries[:] = [e for e in entries if e["fields"]]
            managers_changed |= snapshot != [(e["manager"], e["operation"], e.get("subresource"), frozenset(e["fields"])) for e in entries]
            stored, changed = self.commit(resource, key, before, after, dry_run, managers_changed)
            if changed:
                self.after_write(resource, stored)
            return self.present(resource, stored), changed

    def create_by_apply(self, resource, key, config, applied, manager, dry_run):
        meta = config["metadata"]
        self.check_not_terminating(resource, key[0], key[1])
        for field in ("resourceVersion", "managedFields", "uid"):
            meta.pop(field, None)
        meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now()})
        if has_generation(resource):
            meta["generation"] = 1
        self.defaults(resource, config, None)
        if not dry_run and applied:  # an apply that owns nothing (a bare Namespace) leaves no entry
            self.managers[meta["uid"]] = [self.entry(manager, "Apply", resource, applied)]
        stored, _ = self.commit(resource, key, None, config, dry_run)
        if not dry_run:
            self.after_write(resource, stored)
        return self.present(resource, stored), True

    def delete(self, resource, namespace, name, dry_run=False):
        """DELETE as kube-apiserver does it: an object with finalizers (a Namespace always: "kubernetes";
        a CRD: customresourcecleanup) gets a deletionTimestamp and is returned as it now is; the
        controllers finish the job. Anything else goes at once and the answer is a Status."""
        with self.lock:
            key, obj = self.existing(resource, namespace, name)
            if resource.kind in ("Namespace", "CustomResourceDefinition") or obj["metadata"].get("finalizers"):
                if dry_run or obj["metadata"].get("deletionTimestamp"):
                    return self.present(resource, obj)
                after = copy.deepcopy(obj)
                after["metadata"]["deletionTimestamp"] = now()
                if resource.kind == "Namespace":
                    after["status"] = {"phase": "Terminating"}
                if resource.kind == "CustomResourceDefinition":
                    after["metadata"]["finalizers"] = ["customresourcecleanup.apiextensions.k8s.io"]
                stored, _ = self.commit(resource, key, obj, after, False)
                return self.present(resource, stored)
            if not dry_run:
                self.remove(resource, key, obj)
            details = {"name": name, "group": resource.group, "kind": resource.plural, "uid": obj["metadata"]["uid"]}
            if not resource.group:
                del details["group"]
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def remove(self, resource, key, obj):
        """The object is gone: from the store, its managers, and (for a CRD) its kind and objects."""
        self.bucket(resource).pop(key, None)
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = self.next_revision()
        self.record("DELETED", resource, gone)
        self.managers.pop(obj["metadata"]["uid"], None)
        if resource.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            doomed = self.objects.pop((spec.get("group"), (spec.get("names") or {}).get("plural")), {})
            for o in doomed.values():
                self.managers.pop(o["metadata"]["uid"], None)
            self.registry.replace_origin(obj["metadata"]["name"], [])

    def finish_namespace(self, namespace_obj):
        """The namespace controller: deletes what the namespace holds, then the namespace once empty
        (objects with finalizers wait for them)."""
        name = namespace_obj["metadata"]["name"]
        remaining = 0
        for resource in list(self.registry.all()):
            if not resource.namespaced:
                continue
            for key, obj in list(self.bucket(resource).items()):
                if key[0] != name:
                    continue
                remaining += 1
                if obj["metadata"].get("finalizers"):
                    if not obj["metadata"].get("deletionTimestamp"):
                        after = copy.deepcopy(obj)
                        after["metadata"]["deletionTimestamp"] = now()
                        self.commit(resource, key, obj, after, False)
                else:
                    self.remove(resource, key, obj)
                    remaining -= 1
        if remaining == 0:
            self.remove(self.builtin("", "v1", "namespaces"), ("", name), namespace_obj)

    def finish_crd(self, crd):
        """customresourcecleanup: the CRD's objects go, then the CRD."""
        self.remove(self.builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions"), ("", crd["metadata"]["name"]), crd)

    # ------------------------------------------------------------------------------ side effects

    def after_write(self, resource, obj):
        if resource.kind == "Namespace" and not obj["metadata"].get("deletionTimestamp"):
            name = obj["metadata"]["name"]
            sa = self.builtin("", "v1", "serviceaccounts")
            if (name, "default") not in self.bucket(sa):
                self.put_system(sa, {"metadata": {"name": "default", "namespace": name}})
            # the root CA publisher of kube-controller-manager, in every namespace
            configmaps = self.builtin("", "v1", "configmaps")
            if (name, "kube-root-ca.crt") not in self.bucket(configmaps):
                self.put_system(configmaps, {"metadata": {"name": "kube-root-ca.crt", "namespace": name, "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nlab\n-----END CERTIFICATE-----\n"}}, manager="kube-controller-manager")

    # ------------------------------------------------------------------------ subresources, schema

    def scale(self, resource, namespace, name):
        with self.lock:
            _, obj = self.existing(resource, namespace, name)
            return self.scale_of(obj)

    @staticmethod
    def scale_of(obj):
        meta = obj["metadata"]
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}}

    def set_replicas(self, resource, namespace, name, replicas, manager, dry_run):
        with self.lock:
            key, before = self.existing(resource, namespace, name)
            after = copy.deepcopy(before)
            after.setdefault("spec", {})["replicas"] = replicas
            stored = self.finish_update(resource, key, before, after, manager, None, dry_run)
            return self.scale_of(stored)

    def evict(self, resource, namespace, name, body):
        """policy/v1 Eviction: refused with 429 while a PodDisruptionBudget selecting the pod allows no
        disruption; a Pending (or finished) pod is evicted regardless, as the real server does."""
        with self.lock:
            key, pod = self.existing(resource, namespace, name)
            phase = (pod.get("status") or {}).get("phase", "Pending")
            if phase == "Running":
                pdbs = self.bucket(self.builtin("policy", "v1", "poddisruptionbudgets"))
                labels = pod["metadata"].get("labels") or {}
                for (ns, pdb_name), pdb in sorted(pdbs.items()):
                    selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                    if ns != namespace or not selector or any(labels.get(k) != v for k, v in selector.items()):
                        continue
                    needs, healthy = self.pdb_health(namespace, pdb)
                    if healthy - 1 < needs:
                        raise StatusError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                                          {"causes": [{"reason": "DisruptionBudget",
                                                       "message": f"The disruption budget {pdb_name} needs {needs} healthy pods and has {healthy} currently"}]})
            self.remove(resource, key, pod)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def pdb_health(self, namespace, pdb):
        """(pods the budget needs healthy, pods Ready now) among the pods it selects."""
        selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = [p for (ns, _), p in self.bucket(self.builtin("", "v1", "pods")).items()
                if ns == namespace and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
        healthy = sum(1 for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                             for c in (p.get("status") or {}).get("conditions") or []))
        spec = pdb.get("spec") or {}
        needs = spec.get("minAvailable", 0) if isinstance(spec.get("minAvailable"), int) else 0
        if isinstance(spec.get("maxUnavailable"), int):
            needs = max(0, len(pods) - spec["maxUnavailable"])
        return needs, healthy

    def check_schema(self, resource, body, strict, applying, namespace=None, name=None):
        """A custom resource against its CRD's structural schema (see schema.py); returns the Warning
        headers of a create or update that pruned fields."""
        if not resource.origin or resource.origin.startswith("apiservice:") or not isinstance(body, dict):
            return []
        with self.lock:
            crd = self.bucket(self.builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions")).get(("", resource.origin))
        if crd is None:
            return []
        structural = schema.version_schema(crd, resource.version)
        found = schema.problems(structural, body)
        if applying and found:
            kind, path, detail = found[0]
            where = f"{namespace}/{name}" if namespace else name
            raise StatusError(500, "", f"failed to create typed patch object ({where}; {resource.group_version}, Kind={resource.kind}): {path}: {detail}")
        wrong = [(p[1:], "FieldValueTypeInvalid", f'Invalid value: "{d.split("got ")[-1]}": {p[1:]} in body must be of type {d.split(" ")[1]}')
                 for k, p, d in found if k == "type"]
        if wrong:
            meta_name = (body.get("metadata") or {}).get("name", "")
            raise invalid_all(resource, meta_name, wrong)
        unknown = [p[1:] for k, p, _ in found if k == "unknown"]
        if unknown and strict:
            raise StatusError(400, "BadRequest", "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
        schema.prune(structural, body)
        return [f'299 - "unknown field \\"{u}\\""' for u in unknown]


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
    # An Update manager is named with the API version it wrote in; an Apply manager is not.
    causes = [{"reason": "FieldManagerConflict",
               "message": f'conflict with "{e["manager"]}"' + (f' using {e["apiVersion"]}' if e["operation"] == "Update" else ""),
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
