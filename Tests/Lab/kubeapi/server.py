"""The lab's Kubernetes API double: one process on the lab host, holding every lab cluster's state.

RKE2 doubles on server nodes terminate TLS on :6443 (their serving certificate, client certificates
checked against their cluster CA) and forward each request here over a Unix socket, naming the cluster
(the sha256 of its CA) and the authenticated user. So every server node of a cluster serves the same
objects, as with a shared etcd, and clusters built by different tests stay apart.

Lab-only endpoints under /_lab/: node registration and heartbeats (from the RKE2 doubles), fault
switches (from lab.py), and a summary of the clusters.

  python3 -m kubeapi.server SOCKET
  python3 -m kubeapi.server --tcp 127.0.0.1:0   (standalone, plain HTTP: one cluster, for client tests
                                                 that need no lab; prints the port it took)

Every cluster's requests are counted (GET /_lab/requests?cluster=ID), so tests and benchmarks can see
how many requests a client sent.
"""
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time
import re
import urllib.parse

import yaml

from . import openapi, resources, uploadproxy, virtapi, vmistreams
from .controllers import Controllers
from .selectors import LabelSelector, field_selector
from .store import Cluster, StatusError

CLUSTERS = {}
CLUSTERS_LOCK = threading.Lock()
NODE_CLUSTER = {}  # node name -> cluster id, for fault switches addressed by node
LIFECYCLE = []  # every start, ready and stop the RKE2 doubles report, oldest first (tests read them)
LIFECYCLE_LOCK = threading.Lock()
STANDALONE = {"cluster": None}  # the one cluster of --tcp mode: requests need no X-Lab-Cluster there
REQUESTS = {}  # cluster id -> {"total": n, "METHOD": n, "userAgents": {agent: n}}
REQUESTS_LOCK = threading.Lock()
ETCD_FINALIZER = "wrangler.cattle.io/managed-etcd-controller"


def count_request(cluster_id, method, path, agent):
    with REQUESTS_LOCK:
        counts = REQUESTS.setdefault(cluster_id, {"total": 0, "userAgents": {}, "paths": {}})
        counts["total"] += 1
        counts[method] = counts.get(method, 0) + 1
        counts["userAgents"][agent] = counts["userAgents"].get(agent, 0) + 1
        key = f"{method} {path}"
        counts["paths"][key] = counts["paths"].get(key, 0) + 1


def cluster(cluster_id):
    with CLUSTERS_LOCK:
        if cluster_id not in CLUSTERS:
            CLUSTERS[cluster_id] = Cluster(cluster_id)
        return CLUSTERS[cluster_id]


class Faults:
    """Per-cluster switches: the next `count` requests answer `status`, or are slow, or are dropped."""

    def __init__(self):
        self.queue = []
        self.legacy_discovery = False
        self.upload_token_ttl = None  # seconds for the next upload tokens; None: CDI's 5 minutes
        self.upload_drops = []        # each upload drops its connection after this many bytes, in turn

    def take_upload_drop(self):
        return self.upload_drops.pop(0) if self.upload_drops else None

    def take(self):
        if self.queue:
            fault = self.queue[0]
            fault["count"] -= 1
            if fault["count"] <= 0:
                self.queue.pop(0)
            return fault
        return None


FAULTS = {}


def parse_body(content_type, data, allowed):
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in allowed:
        raise StatusError(415, "UnsupportedMediaType",
                          f"the body of the request was in an unknown format - accepted media types include: {', '.join(allowed)}")
    try:
        return json.loads(data) if kind.endswith("json") else yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as error:
        raise StatusError(400, "BadRequest", f"error decoding request body: {error}")


WRITE_TYPES = ["application/json", "application/yaml"]
PATCH_TYPES = ["application/apply-patch+yaml", "application/merge-patch+json", "application/strategic-merge-patch+json"]


class PageNotFound(Exception):
    """kube-apiserver's answer where no handler is registered at all (an unknown path, an API group
    nobody serves, a CRD's group before it is Established): text/plain `404 page not found`, not a
    Status. A known group with an unknown version or resource answers a JSON Status instead."""


SUBRESOURCES = {"status", "scale", "eviction", "finalize"}


class Route:
    """A request path taken apart: which resource, namespace, name and subresource."""

    def __init__(self, state, path):
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            group, version, rest = "", parts[1] if len(parts) > 1 else None, parts[2:]
        elif parts[:1] == ["apis"]:
            group, version, rest = (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else None), parts[3:]
            if group is not None and not state.registry.serves_group(group):
                raise PageNotFound()
        else:
            raise PageNotFound()
        self.namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and state.registry.find(group, version, rest[2]):
            self.namespace, rest = rest[1], rest[2:]
        if not rest:
            raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
        self.resource = state.registry.find(group, version, rest[0])
        if self.resource is None:
            if not state.registry.builtin_group(group):
                raise PageNotFound()
            raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
        self.name = rest[1] if len(rest) > 1 else None
        self.subresource = rest[2] if len(rest) > 2 else None
        r = self.resource
        if len(rest) > 3 or (self.subresource and self.subresource not in SUBRESOURCES) or \
                (self.subresource == "status" and not r.has_status) or (self.subresource == "scale" and not r.has_scale) or \
                (self.subresource in ("eviction", "finalize") and self.subresource not in dict(r.subresources)):
            raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
        if self.resource.namespaced and self.name is not None and self.namespace is None:
            raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
        if not self.resource.namespaced and self.namespace is not None:
            raise StatusError(404, "NotFound", "the server could not find the requested resource", {})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "lab"

    # ------------------------------------------------------------------------------------ replies

    def reply(self, code, body, content_type="application/json", extra=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra.items() if isinstance(extra, dict) else extra or []):
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        self.warnings = []
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        data = self.body()
        try:
            if url.path.startswith("/_lab/"):
                return self.lab(method, url.path, data)
            cluster_id = self.headers.get("X-Lab-Cluster") or STANDALONE["cluster"]
            if not cluster_id:
                raise StatusError(401, "Unauthorized", "Unauthorized")
            count_request(cluster_id, method, url.path, self.headers.get("User-Agent") or "")
            faults = FAULTS.setdefault(cluster_id, Faults())
            fault = faults.take()
            if fault:
                if fault["mode"] == "drop":
                    if STANDALONE["cluster"]:  # no RKE2 double in front to cut the connection for us
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    return self.reply(599, b"", extra={"X-Lab-Drop": "1"})
                if fault["mode"] == "slow":
                    time.sleep(fault["seconds"])
                elif fault["mode"] == "status":
                    code = fault["code"]
                    reason = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}.get(code, "InternalError")
                    error = StatusError(code, reason, f"lab fault: injected {code}")
                    # kube-apiserver's max-in-flight filter answers 429 with Retry-After: 1; a fault may say so too
                    extra = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else None
                    return self.reply(code, error.body(), extra=extra)
            state = cluster(cluster_id)
            stream = vmistreams.match([p for p in url.path.split("/") if p])
            if stream and state.registry.find(vmistreams.GROUP, vmistreams.VERSION, "virtualmachineinstances"):
                if method != "GET":
                    raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
                return vmistreams.serve(self, state, cluster_id, *stream)
            if query.get("watch") in ("1", "true") and method == "GET":
                return self.watch(state, url.path, query)
            code, body, content_type = self.kubernetes(state, faults, method, url.path, query, data)
            warnings = getattr(self, "warnings", [])
            self.warnings = []
            self.reply(code, body, content_type, extra=[("Warning", w) for w in warnings])
        except PageNotFound:
            self.reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
        except StatusError as error:
            self.reply(error.code, error.body())
        except Exception as error:  # a bug in the double answers 500, as an API server would, and is logged
            import traceback
            traceback.print_exc()
            self.reply(500, StatusError(500, "InternalError", f"lab API double: {error!r}").body())

    # -------------------------------------------------------------------------------- Kubernetes

    def kubernetes(self, state, faults, method, path, query, data):
        accept = self.headers.get("Accept", "")
        if path in ("/readyz", "/livez", "/healthz"):
            return 200, b"ok", "text/plain"
        if method == "GET" and path == "/openapi/v3":
            with state.lock:
                return 200, openapi.index(state.registry), "application/json"
        if method == "GET" and path.startswith("/openapi/v3/"):
            parts = path[len("/openapi/v3/"):].split("/")
            group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else \
                (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else (None, None)
            with state.lock:
                document = openapi.document(state.registry, group, version) if version else None
            if document is None:
                raise PageNotFound()
            return 200, document, "application/json"
        if path == "/version":
            return 200, {"major": "1", "minor": "28", "gitVersion": "v1.28.11+rke2r1", "platform": "linux/amd64"}, "application/json"
        if method == "GET" and path in ("/api", "/apis") and "as=APIGroupDiscoveryList" in accept and not faults.legacy_discovery:
            offered = [t.strip() for t in accept.split(",")]
            if any(re.search(r"(^|;)v=v2(;|$)", t) and "as=APIGroupDiscoveryList" in t for t in offered):
                with state.lock:
                    return 200, resources.aggregated(state.registry, legacy=(path == "/api")), resources.AGGREGATED_MEDIA_TYPE
            if not any(t.split(";")[0] in ("application/json", "*/*") and "as=" not in t for t in offered):
                # v1.36 serves aggregated discovery as v2 only; v2beta1 alone is not acceptable
                raise StatusError(406, "NotAcceptable", f"only the following media types are accepted: application/json, "
                                  f"application/yaml, application/vnd.kubernetes.protobuf, {resources.AGGREGATED_MEDIA_TYPE}")
        if method == "GET" and path == "/api":
            return 200, resources.api_versions(), "application/json"
        if method == "GET" and path == "/apis":
            with state.lock:
                return 200, resources.api_group_list(state.registry), "application/json"
        parts = [p for p in path.split("/") if p]
        if method == "GET" and (parts[:1] == ["api"] and len(parts) == 2 or parts[:1] == ["apis"] and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            with state.lock:
                document = resources.api_resource_list(state.registry, group, version)
            if document is None:
                if not state.registry.serves_group(group):
                    raise PageNotFound()
                raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
            return 200, document, "application/json"
        if parts[:3] == ["apis", uploadproxy.GROUP, uploadproxy.VERSION] and len(parts) == 6 and parts[3] == "namespaces" \
                and parts[5] == "uploadtokenrequests" and state.registry.find(uploadproxy.GROUP, uploadproxy.VERSION, "uploadtokenrequests"):
            if method != "POST":
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return 201, uploadproxy.issue_token(state, faults, parts[4], parse_body(self.headers.get("Content-Type"), data, WRITE_TYPES)), "application/json"
        if parts[:3] == ["apis", virtapi.GROUP, virtapi.VERSION] and len(parts) == 8 and parts[3] == "namespaces" \
                and parts[5] == "virtualmachines" and parts[7] in virtapi.ACTIONS and state.registry.find(virtapi.GROUP, virtapi.VERSION, "virtualmachines"):
            if method != "PUT":
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            with state.lock:
                return virtapi.act(state, parts[4], parts[6], parts[7])
        with state.lock:
            route = Route(state, path)
            return self.resource_request(state, route, method, query, data)

    def resource_request(self, state, route, method, query, data):
        r, ns, name, sub = route.resource, route.namespace or "", route.name, route.subresource
        dry_run = query.get("dryRun") == "All"
        manager = query.get("fieldManager") or (self.headers.get("User-Agent") or "unknown").split("/")[0]
        content_type = self.headers.get("Content-Type")
        strict = query.get("fieldValidation") == "Strict"
        if sub == "scale":
            return self.scale(state, r, ns, name, method, data, manager, dry_run)
        if sub == "eviction":
            if method != "POST":
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return 201, state.evict(r, ns, name, parse_body(content_type, data, WRITE_TYPES)), "application/json"
        if method == "GET" and name:
            return 200, state.get(r, ns, name), "application/json"
        if method == "GET":
            labels = LabelSelector(query["labelSelector"]) if query.get("labelSelector") else None
            fields = field_selector(query["fieldSelector"], r.kind) if query.get("fieldSelector") else None
            limit = int(query["limit"]) if query.get("limit", "").isdigit() and int(query["limit"]) > 0 else None
            return 200, state.list(r, ns, labels, fields, limit=limit, token=query.get("continue")), "application/json"
        if method == "POST" and not name:
            if r.namespaced and not ns:
                raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
            body = parse_body(content_type, data, WRITE_TYPES)
            self.warnings = state.check_schema(r, body, strict=strict, applying=False)
            return 201, state.create(r, ns, body, manager, dry_run), "application/json"
        if method == "PUT" and name:
            body = parse_body(content_type, data, WRITE_TYPES)
            self.warnings = state.check_schema(r, body, strict=strict, applying=False)
            return 200, state.update(r, ns, name, body, manager, sub, dry_run), "application/json"
        if method == "PATCH" and name:
            kind = (content_type or "").split(";")[0].strip().lower()
            body = parse_body(content_type, data, PATCH_TYPES)
            if kind == "application/apply-patch+yaml":
                state.check_schema(r, body, strict=True, applying=True, namespace=ns, name=name)
                force = query.get("force") in ("true", "1")
                obj, created = self.apply(state, r, ns, name, body, query.get("fieldManager"), force, sub, dry_run)
                return (201 if created else 200), obj, "application/json"
            if kind == "application/strategic-merge-patch+json" and r.origin:
                raise StatusError(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources")
            return 200, state.merge_patch(r, ns, name, body, manager, sub, dry_run), "application/json"
        if method == "DELETE" and name:
            return 200, state.delete(r, ns, name, dry_run), "application/json"
        raise StatusError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")

    def scale(self, state, r, ns, name, method, data, manager, dry_run):
        """/scale: an autoscaling/v1 Scale view of spec.replicas (GET, merge PATCH, PUT)."""
        if method == "GET":
            return 200, state.scale(r, ns, name), "application/json"
        if method in ("PATCH", "PUT"):
            body = parse_body(self.headers.get("Content-Type"), data, WRITE_TYPES if method == "PUT" else PATCH_TYPES[1:])
            replicas = ((body or {}).get("spec") or {}).get("replicas")
            if not isinstance(replicas, int):
                raise StatusError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: must be an integer',
                                  {"name": name, "group": "autoscaling", "kind": "Scale",
                                   "causes": [{"reason": "FieldValueInvalid", "message": "must be an integer", "field": "spec.replicas"}]})
            return 200, state.set_replicas(r, ns, name, replicas, manager, dry_run), "application/json"
        raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def watch(self, state, path, query):
        """A watch: chunked JSON lines, the objects there now as ADDED, then every change until
        timeoutSeconds (default 30 min, capped here at 5 min)."""
        with state.lock:
            route = Route(state, path)
            if route.name is not None:
                raise StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            labels = LabelSelector(query["labelSelector"]) if query.get("labelSelector") else None
            fields = field_selector(query["fieldSelector"], route.resource.kind) if query.get("fieldSelector") else None
            since = query.get("resourceVersion")
            start = state.revision
            initial = [] if since not in (None, "", "0") and query.get("sendInitialEvents") != "true" else \
                [{"type": "ADDED", "object": o} for o in state.list(route.resource, route.namespace or "", labels, fields, with_kind=True)["items"]]
        timeout = min(float(query.get("timeoutSeconds") or 1800), 300)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(event):
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            for event in initial:
                chunk(event)
            if query.get("sendInitialEvents") == "true":
                # A watch-list (client-go's WatchListClient, kubectl 1.37): a bookmark marks the end of the
                # initial events, as kube-apiserver sends it.
                r = route.resource
                chunk({"type": "BOOKMARK", "object": {"kind": r.kind, "apiVersion": r.group_version, "metadata": {
                    "resourceVersion": str(start), "annotations": {"k8s.io/initial-events-end": "true"}}}})
            position = int(since) if since not in (None, "", "0") else start
            deadline = time.time() + timeout
            while time.time() < deadline:
                for event in state.events_after(position, route.resource, route.namespace, labels, deadline - time.time(), fields):
                    position = int(event["object"]["metadata"]["resourceVersion"])
                    chunk(event)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def apply(self, state, r, ns, name, body, manager, force, sub, dry_run):
        key = (ns if r.namespaced else "", name)
        existed = key in state.bucket(r)
        obj, _ = state.apply(r, ns, name, body, manager, force, sub, dry_run)
        return obj, not existed

    # --------------------------------------------------------------------------------------- lab

    def lab(self, method, path, data):
        request = json.loads(data or b"{}")
        if path == "/_lab/nodes" and method == "POST":
            return self.register_node(request)
        if path == "/_lab/faults" and method == "POST":
            target = request.get("cluster") or NODE_CLUSTER.get(request.get("node", ""))
            if not target:
                raise StatusError(404, "NotFound", f"no cluster has a node named {request.get('node')!r}")
            faults = FAULTS.setdefault(target, Faults())
            if request["mode"] == "clear":
                faults.queue, faults.legacy_discovery, faults.upload_token_ttl, faults.upload_drops = [], False, None, []
                with vmistreams.STATS_LOCK:
                    vmistreams.DROPS.pop(target, None)
            elif request["mode"] == "legacy-discovery":
                faults.legacy_discovery = True
            elif request["mode"] == "upload-token-ttl":
                faults.upload_token_ttl = float(request["seconds"])
            elif request["mode"] == "upload-drop":
                faults.upload_drops.append(int(request["bytes"]))
            elif request["mode"] == "console-drop":
                with vmistreams.STATS_LOCK:
                    vmistreams.DROPS.setdefault(target, []).append(int(request["bytes"]))
            else:
                faults.queue.append({"mode": request["mode"], "count": int(request.get("count", 1)),
                                     "code": int(request.get("code", 503)), "seconds": float(request.get("seconds", 0)),
                                     "retry_after": request.get("retryAfter")})
            return self.reply(200, {"cluster": target})
        if path.startswith("/_lab/html/"):  # what a web server or proxy answers where the API was expected
            return self.reply(404, b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>", "text/html")
        if path == "/_lab/requests" and method == "GET":
            with REQUESTS_LOCK:
                return self.reply(200, {cid: dict(c) for cid, c in REQUESTS.items()})
        if path == "/_lab/requests" and method == "DELETE":
            with REQUESTS_LOCK:
                REQUESTS.clear()
            return self.reply(200, {})
        if path == "/_lab/etcd" and method == "POST":  # an RKE2 double asks whether it is still an etcd member
            state = cluster(request["cluster"])
            with state.lock:
                nodes = state.bucket(state.registry.find("", "v1", "nodes"))
                # The versions of the servers' Nodes: a server refuses to start too far from them.
                versions = {n: nodes[("", n)]["status"]["nodeInfo"]["kubeletVersion"] for n in state.etcd_members if ("", n) in nodes}
                return self.reply(200, {"members": sorted(state.etcd_members), "versions": versions})
        if path == "/_lab/etcd-snapshot" and method == "POST":  # `rke2 etcd-snapshot save`: the cluster's state
            state = cluster(request["cluster"])
            with state.lock:
                return self.reply(200, {"snapshot": state.snapshot(), "revision": state.revision})
        if path == "/_lab/etcd-restore" and method == "POST":  # `rke2 server --cluster-reset --cluster-reset-restore-path`
            state = cluster(request["cluster"])
            with state.lock:
                state.restore(request["snapshot"], request["node"])
                return self.reply(200, {"revision": state.revision})
        if path == "/_lab/lifecycle" and method == "POST":  # an RKE2 double records a start or a stop
            with LIFECYCLE_LOCK:
                if request.get("event"):
                    LIFECYCLE.append({"node": request["node"], "event": request["event"], "version": request.get("version", ""),
                                      "role": request.get("role", ""), "time": time.time()})
                    return self.reply(200, {})
                # A listing, for tests: the records of these nodes since a time.
                nodes, since = set(request.get("nodes", [])), float(request.get("since", 0))
                return self.reply(200, {"events": [e for e in LIFECYCLE if e["node"] in nodes and e["time"] >= since]})
        if path == "/_lab/streams" and method == "GET":  # console and VNC connections and pings, per VMI
            with vmistreams.STATS_LOCK:
                return self.reply(200, dict(vmistreams.STATS))
        if path == "/_lab/clusters" and method == "GET":
            with CLUSTERS_LOCK:
                summary = {cid: {"nodes": sorted(c.node_index), "revision": c.revision} for cid, c in CLUSTERS.items()}
            return self.reply(200, summary)
        raise StatusError(404, "NotFound", f"no lab endpoint {method} {path}")

    def register_node(self, request):
        """An RKE2 double's kubelet: registers its Node on first contact, then heartbeats. Like the
        kubelet, a process whose Node was deleted does not register it again (only a restart does);
        its heartbeats then answer `registered: false`. A server's Node carries RKE2's etcd finalizer,
        and the answer says whether the server is still an etcd member."""
        state = cluster(request["cluster"])
        name = request["name"]
        boot = request.get("boot", "")
        with state.lock:
            NODE_CLUSTER[name] = state.id
            nodes = state.registry.find("", "v1", "nodes")
            present = ("", name) in state.bucket(nodes)
            if not present and state.node_boots.get(name) == boot and boot:
                return self.reply(200, {"registered": False, "etcdMember": name in state.etcd_members, "nodePorts": node_ports(state)})
            state.node_index[name] = time.time()
            if request.get("role") == "server" and not present:
                state.etcd_members.add(name)
            if present and boot and state.node_boots.get(name) != boot:
                # A restarted kubelet (a new RKE2 process, perhaps a new version) updates its nodeInfo and
                # reports NotReady until its runtime is up again, as after a real kubelet restart.
                state.node_boots[name] = boot
                node = state.bucket(nodes)[("", name)]
                info = dict(node["status"]["nodeInfo"], kubeletVersion=request.get("version", ""))
                state.node_restarts[name] = time.time()
                state.set_status(nodes, node, dict(node["status"], nodeInfo=info), manager="rke2")
            if not present:
                state.node_boots[name] = boot
                labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                          "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
                if request.get("role") == "server":
                    labels.update({"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/etcd": "true",
                                   "node-role.kubernetes.io/master": "true"})
                labels.update(request.get("labels") or {})
                node = {"metadata": {"name": name, "labels": labels},
                        "spec": {"podCIDR": f"10.42.{len(state.bucket(nodes))}.0/24"}}
                if request.get("taints"):
                    node["spec"]["taints"] = request["taints"]
                if request.get("role") == "server":  # RKE2's etcd member controller (k3s pkg/etcd) holds server Nodes
                    node["metadata"]["finalizers"] = [ETCD_FINALIZER]
                node["status"] = {
                    "addresses": [{"type": "InternalIP", "address": a} for a in request.get("addresses", [])] + [{"type": "Hostname", "address": name}],
                    "nodeInfo": {"kubeletVersion": request.get("version", ""), "operatingSystem": "linux", "architecture": "amd64",
                                 "containerRuntimeVersion": "containerd://1.7.17-k3s1"},
                    "conditions": []}
                state.put_system(nodes, node, manager="rke2")
            member = name in state.etcd_members
        return self.reply(200, {"registered": name, "etcdMember": member, "nodePorts": node_ports(state)})


def node_ports(state):
    """What kube-proxy would program on every node: NodePort -> endpoint. The lab runs no pods; the
    one workload with a real endpoint is CDI's upload proxy (served on the host), once it is deployed."""
    services = state.registry.find("", "v1", "services")
    deployments = state.registry.find("apps", "v1", "deployments")
    with state.lock:
        proxies = {ns for (ns, name), d in state.bucket(deployments).items() if name == "cdi-uploadproxy"
                   and (d.get("status") or {}).get("availableReplicas")}
        ports = []
        for (ns, _), svc in state.bucket(services).items():
            spec = svc.get("spec") or {}
            if ns in proxies and (spec.get("selector") or {}).get("cdi.kubevirt.io") == "cdi-uploadproxy" and uploadproxy.URL["value"]:
                ports += [{"nodePort": p["nodePort"], "target": uploadproxy.URL["value"].split("://", 1)[1]}
                          for p in spec.get("ports") or [] if p.get("nodePort") and p.get("targetPort", p.get("port")) == 8443]
        return ports


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # Every node's RKE2 double connects here; Python's default backlog of 5 overflows under a full
    # test run, and a Unix socket then refuses at once (EAGAIN) instead of queueing.
    request_queue_size = 1024

    def get_request(self):
        request, _ = super().get_request()
        return request, ("lab", 0)


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main(argv):
    if argv[:1] == ["--tcp"]:
        host, port = argv[1].rsplit(":", 1)
        STANDALONE["cluster"] = "standalone"
        cluster("standalone")
        server = TCPServer((host, int(port)), Handler)
        Controllers(lambda: list(CLUSTERS.values())).start()
        print(f"kubeapi: serving on http://{host}:{server.server_address[1]}", flush=True)
        server.serve_forever()
        return
    path = argv[0]
    if len(argv) > 1:  # the CDI upload proxy: ADDRESS PORT CERT KEY SIGNER_CA
        address, port, cert, key, ca = argv[1:6]
        uploadproxy.serve(address, int(port), cert, key, ca, cluster, lambda cid: FAULTS.setdefault(cid, Faults()))
    if os.path.exists(path):
        os.remove(path)
    server = UnixServer(path, Handler)
    os.chmod(path, 0o666)  # the RKE2 doubles run as root inside nodes; tests may run as anyone
    Controllers(lambda: list(CLUSTERS.values())).start()
    print(f"kubeapi: serving on {path}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
