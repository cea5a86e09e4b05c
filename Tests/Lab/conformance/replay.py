#!/usr/bin/env python3
"""Replays the recordings of a real kube-apiserver (../shared/kube-conformance) against the lab's API
double and compares what matters: status codes, content types, warnings, Status reason/message/causes,
the resourceVersion/uid/continue equalities the <rv:N> placeholders record, and the object fields
Parvester reads. The double runs in this process, one fresh cluster per scenario.

  replay.py RECORDINGS_DIR [--verbose]     exit 0 when every difference is an allowed one

Setup the recordings took for granted (the scenario's namespace, the objects a step reads before it
creates any) is made here, per scenario, with the requests the recorder would have sent.
"""
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from kubeapi import server  # noqa: E402

PREFIX = "cf"

# Differences Parvester can never meet, one line of reason each. Keys: (scenario, step id or "*", path).
ALLOWED = {
    ("*", "*", "managedFields.fieldsV1"): "Parvester never reads field ownership; managers and operations are compared",
    ("*", "*", "managedFields.time"): "timestamps are normalized in the recordings",
    ("watch_create", "watch", "events.openshift-service-ca.crt"): "a ConfigMap only the recorder's controller manager (an OpenShift add-on) creates",
    ("list_label_selector_paged", "*", "items.openshift-service-ca.crt"): "as above",
    ("discovery_legacy", "*", "storageVersionHash"): "a hash of the storage version for storage migrators; Parvester never reads it",
    ("discovery_aggregated", "*", "group not served"): "API groups Parvester never uses (events, authentication, autoscaling, ...)",
    ("discovery_legacy", "*", "group not served"): "as above",
    ("node_lifecycle", "*", "spec"): "the node lifecycle controller's not-ready taint on a POSTed Node; lab Nodes come from the RKE2 double's kubelet",
    ("node_lifecycle", "*", "status"): "the kubelet's status skeleton of a POSTed Node, as above",
    ("node_lifecycle", "*", "metadata.annotations"): "the TTL controller's annotation; Parvester never reads it",
    ("node_lifecycle", "*", "metadata.managedFields"): "the TTL controller's manager entry, as above",
    ("kubectl_csa_then_ssa", "get", "metadata.annotations.deployment.kubernetes.io/revision"): "the Deployment controller's revision counter; Parvester never reads it",
    ("subresource_status_scale", "*", "metadata.resourceVersion"): "the Deployment controller writes status while every step runs, in both servers: which write lands first is a race",
    ("subresource_status_scale", "*", "metadata.managedFields"): "as above: its kube-controller-manager entry may appear before any step, where the recording caught it after",
    ("deployment_defaultmode", "apply-again", "metadata.resourceVersion"): "the Deployment controller's first status write races the second apply in both (the recording caught it before)",
    ("crd_lifecycle", "apply-cr-immediately", "*"): "races the CRD's establishment (the README's timing-dependent results): 404 or 201; a 404 is sent again once Established",
    ("eviction_pdb_blocks", "get-pdb", "metadata"): "the disruption controller's first status races this GET in both",
}

# What a step's body may show differently because a controller races with it (see the README's
# "Timing-dependent results"): compared by shape only.
LOOSE = {"status", "metadata.annotations.deployment.kubernetes.io/revision", "metadata.annotations.node.alpha.kubernetes.io/ttl"}


def setup_requests(name):
    """(method, path, body) the recorder sent before the recorded steps."""
    ns = lambda n: ("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"NS-{n}"}})
    cm = lambda n, name, labels=None, **extra: ("POST", f"/api/v1/namespaces/NS-{n}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": dict({"name": name, "labels": labels} if labels else {"name": name}, **extra),
        "data": {"i": name[1:]} if n == "ls1" else {"a": "1"}})
    table = {
        "crd_lifecycle": [ns("crd1")],
        "deployment_defaultmode": [ns("dep1")],
        "deployment_invalid": [ns("dep2")],
        "eviction_pdb_blocks": [ns("ev1")],
        "kubectl_csa_then_ssa": [ns("kc1"), "kubectl-client-side-apply"],
        "list_label_selector_paged": [ns("ls1")] + [cm("ls1", f"c{i}", labels) for i, labels in enumerate(
            [{"a": "x"}, {"a": "y"}, {"a": "x", "b": "1"}, {"a": "z"}, {"a": "y"}, None, {"a": "x"}])],
        "namespace_delete_terminating": [ns("del1"), cm("del1", "c1", finalizers=["example.com/hold"])],
        "ssa_configmap_basic": [ns("ssa1")],
        "ssa_configmap_conflict": [ns("ssa3")],
        "subresource_status_scale": [ns("sub1")],
        "watch_create": [ns("w1")],
    }
    return table.get(name, [])


class Client:
    def __init__(self, port, cluster):
        self.port, self.cluster = port, cluster

    def send(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = body if isinstance(body, (bytes, type(None))) else (body if isinstance(body, str) else json.dumps(body)).encode()
        all_headers = {"X-Lab-Cluster": self.cluster, "Accept": "application/json"}
        all_headers.update(headers or {})
        if data is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        warnings = response.headers.get_all("Warning") or []
        connection.close()
        return response.status, response.headers.get("Content-Type", ""), warnings, raw


class Placeholders:
    """<rv:N>, <uid:N>, <continue:N>: equal placeholders must be equal values, and different ones different."""

    def __init__(self):
        self.forward, self.backward = {}, {}

    def check(self, placeholder, value):
        if placeholder in self.forward:
            return self.forward[placeholder] == value
        if value in self.backward:
            return False
        self.forward[placeholder], self.backward[value] = value, placeholder
        return True

    def fill(self, text):
        return re.sub(r"<(?:continue|rv|uid):\d+>", lambda m: urllib.parse.quote(self.forward.get(m.group(0), m.group(0)), safe=""), text)


def compare(expected, actual, path, holders, diffs, loose=False):
    if isinstance(expected, str) and re.fullmatch(r"<(rv|uid|continue):\d+>", expected):
        if not isinstance(actual, str) or not holders.check(expected, actual):
            diffs.append((path, f"{expected} is {actual!r}, which breaks the recorded equalities"))
        return
    if expected == "<ts>":
        if not actual:
            diffs.append((path, "missing timestamp"))
        return
    if isinstance(expected, str) and "<rand>" in expected:
        if not (isinstance(actual, str) and actual.startswith(expected.split("<rand>")[0])):
            diffs.append((path, f"expected {expected!r}, got {actual!r}"))
        return
    if path.endswith("managedFields") and isinstance(expected, list):
        # kube-apiserver sorts entries by operation, then by the second each was written, then by
        # manager: the replay's seconds are not the recorder's, so the entries are compared as a set.
        key = lambda e: (e.get("manager"), e.get("operation"), e.get("subresource") or "")
        want = sorted(key(e) for e in expected)
        got = sorted(key(e) for e in actual or []) if isinstance(actual, list) else actual
        if want != got:
            diffs.append((path, f"managers {want}, got {got}"))
        else:
            for e, a in zip(sorted(expected, key=key), sorted(actual, key=key)):
                if e.get("fieldsV1") != a.get("fieldsV1"):
                    diffs.append(("managedFields.fieldsV1", f"{path}[{e.get('manager')}]: {json.dumps(e.get('fieldsV1'))} vs {json.dumps(a.get('fieldsV1'))}"))
        return
    if loose or path in LOOSE or any(path.endswith("." + p) or path == p for p in LOOSE):
        if type(expected) is not type(actual) and not (expected is None or actual is None):
            diffs.append((path, f"shape: expected {type(expected).__name__}, got {type(actual).__name__}"))
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            diffs.append((path, f"expected an object, got {json.dumps(actual)[:200]}"))
            return
        for key in expected:
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                diffs.append((sub, f"missing (expected {json.dumps(expected[key])[:120]})"))
            else:
                compare(expected[key], actual[key], sub, holders, diffs)
        for key in actual:
            if key not in expected:
                diffs.append((f"{path}.{key}" if path else key, f"unexpected {json.dumps(actual[key])[:120]}"))
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            diffs.append((path, f"expected {len(expected)} items, got {json.dumps(actual)[:300]}"))
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            compare(e, a, f"{path}[{i}]", holders, diffs)
        return
    if expected != actual:
        diffs.append((path, f"expected {json.dumps(expected)[:200]}, got {json.dumps(actual)[:200]}"))


KEPT_DISCOVERY = {"configmaps", "namespaces", "deployments", "customresourcedefinitions"}


def trim_discovery(body):
    """The recordings keep built-in groups only, with resources filtered to four: do the same."""
    builtin = lambda name: "." not in name or name.endswith(".k8s.io")
    if body.get("kind") == "APIGroupDiscoveryList":
        for item in body.get("items", []):
            for version in item.get("versions", []):
                version["resources"] = [r for r in version.get("resources", []) if r.get("resource") in KEPT_DISCOVERY]
        body["items"] = [i for i in body.get("items", []) if builtin(i["metadata"].get("name", ""))]
    elif body.get("kind") == "APIGroupList":
        body["groups"] = [g for g in body.get("groups", []) if builtin(g["name"])]
    elif body.get("kind") == "APIResourceList":
        body["resources"] = [r for r in body.get("resources", []) if r["name"].split("/")[0] in KEPT_DISCOVERY]
    return body


def compare_discovery(expected, actual, diffs):
    """Discovery: every recorded group, version and resource entry must be served identically; groups
    the double does not serve at all are reported as such."""
    if expected.get("kind") == "APIGroupDiscoveryList":
        got = {i["metadata"].get("name", ""): i for i in actual.get("items", [])}
        for item in expected.get("items", []):
            name = item["metadata"].get("name", "")
            if name not in got:
                diffs.append((f"items.{name or 'core'}", "group not served by the double"))
                continue
            compare(item, got[name], f"items.{name or 'core'}", Placeholders(), diffs)
        compare({k: v for k, v in expected.items() if k != "items"}, {k: v for k, v in actual.items() if k != "items"}, "", Placeholders(), diffs)
    elif expected.get("kind") == "APIGroupList":
        got = {g["name"]: g for g in actual.get("groups", [])}
        for group in expected.get("groups", []):
            if group["name"] not in got:
                diffs.append((f"groups.{group['name']}", "group not served by the double"))
            else:
                compare(group, got[group["name"]], f"groups.{group['name']}", Placeholders(), diffs)
    else:
        compare(expected, actual, "", Placeholders(), diffs)


def kubectl_client_side_apply(client, stdin):
    """What `kubectl apply` (client-side) sends for a new object: a POST carrying the
    last-applied-configuration annotation, as field manager kubectl-client-side-apply."""
    import yaml
    obj = yaml.safe_load(stdin)
    applied = json.loads(json.dumps(obj))
    applied["metadata"]["annotations"] = {}
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"}
    group_version = obj["apiVersion"]
    path = f"/apis/{group_version}/namespaces/{obj['metadata']['namespace']}/deployments?fieldManager=kubectl-client-side-apply"
    return client.send("POST", path, obj)


def run_scenario(port, scenario):
    name = scenario["name"]
    cluster = f"conformance-{name}-{time.time()}"
    client = Client(port, cluster)
    sub = lambda text: text.replace("NS", PREFIX) if isinstance(text, str) else text
    results = []
    for request in setup_requests(name):
        if request == "kubectl-client-side-apply":
            csa = next(k for k in scenario.get("kubectl", []) if k["id"] == "kubectl-client-side-apply")
            status, _, _, raw = kubectl_client_side_apply(client, sub(csa["stdin"]))
        else:
            method, path, body = request
            status, _, _, raw = client.send(method, sub(path), json.loads(sub(json.dumps(body))))
        if status >= 300:
            raise SystemExit(f"{name}: setup {request} answered {status}: {raw[:300]}")
    if name == "kubectl_csa_then_ssa":
        time.sleep(2)  # the Deployment controller's first status, as in the recording
    holders = Placeholders()
    crd, retry_after_poll = None, []
    for step in scenario["steps"]:
        if step.get("method") == "POST" and step.get("path", "").endswith("/customresourcedefinitions"):
            crd = json.loads(sub(step["request_body"]))["metadata"]["name"]
        if step.get("kind") == "poll":
            results.append(poll(client, step, crd))
            for again in retry_after_poll:  # what the recording's server accepted before its CRD settled
                client.send(again[0], again[1], again[2], again[3])
            retry_after_poll = []
            continue
        if step.get("kind") == "watch":
            results.append(watch(client, step, sub, holders))
            continue
        path = holders.fill(sub(step["path"]))
        body = sub(step.get("request_body"))
        headers = {k: v for k, v in (step.get("request_headers") or {}).items()}
        status, content_type, warnings, raw = client.send(step["method"], path, body.encode() if body is not None else None, headers)
        diffs = []
        if status == 404 and step["status"] != 404 and step["id"].endswith("-immediately"):
            retry_after_poll.append((step["method"], path, body.encode() if body is not None else None, headers))
        if status != step["status"]:
            diffs.append(("status", f"expected {step['status']}, got {status}: {raw[:300]!r}"))
        if content_type != step["content_type"]:
            diffs.append(("content_type", f"expected {step['content_type']!r}, got {content_type!r}"))
        if [sub(w) for w in step.get("warnings") or []] != warnings:
            diffs.append(("warnings", f"expected {step.get('warnings')}, got {warnings}"))
        if "body_text" in step:
            if raw.decode(errors="replace") != sub(step["body_text"]):
                diffs.append(("body_text", f"expected {step['body_text']!r}, got {raw[:200]!r}"))
        elif step.get("body") not in (None, "<omitted>"):
            try:
                actual = json.loads(raw)
            except ValueError:
                diffs.append(("body", f"not JSON: {raw[:200]!r}"))
            else:
                expected = json.loads(sub(json.dumps(step["body"])))
                if step["path"] in ("/api", "/apis") or re.fullmatch(r"/apis?/[^/]+(/[^/]+)?", step["path"].split("?")[0]) and "discovery" in name:
                    compare_discovery(expected, trim_discovery(actual), diffs)
                else:
                    compare(expected, actual, "", holders, diffs)
        results.append((step["id"], status == step["status"], diffs))
    return results


def poll(client, step, crd):
    """Polls the CRD last created, as the recorder did, until its conditions are the recording's last
    (type, status, reason, message); a different end state or none within 10 s is a difference."""
    want = [(c["type"], c["status"], c["reason"], c["message"]) for c in step["sequence"][-1].get("conditions") or []]
    deadline, seen = time.time() + 10, None
    while time.time() < deadline:
        status, _, _, raw = client.send("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}")
        if status == 200:
            seen = [(c["type"], c["status"], c.get("reason"), c.get("message")) for c in (json.loads(raw).get("status") or {}).get("conditions") or []]
            if seen == want:
                return (step["id"], True, [])
        time.sleep(0.1)
    return (step["id"], True, [("conditions", f"expected {want}, last seen {seen}")])


def watch(client, step, sub, holders):
    """Opens the watch, then creates, changes and deletes c1 as the recorder did; compares c1's events."""
    path = sub(step["path"])
    namespace = path.split("/")[4]
    events, errors = [], []

    def read():
        try:
            connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
            connection.request("GET", path, headers={"X-Lab-Cluster": client.cluster, "Accept": "application/json"})
            response = connection.getresponse()
            events.append(("status", response.status, response.headers.get("Content-Type")))
            for line in response:
                if line.strip():
                    events.append(json.loads(line))
        except Exception as error:  # noqa: BLE001 - reported as a difference
            errors.append(repr(error))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    client.send("POST", base, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"a": "1"}})
    client.send("PATCH", base + "/c1", {"data": {"a": "2"}}, {"Content-Type": "application/merge-patch+json"})
    client.send("DELETE", base + "/c1")
    reader.join(timeout=10)
    diffs = [("watch", e) for e in errors]
    if not events or events[0][:2] != ("status", step["status"]):
        diffs.append(("status", f"expected {step['status']}, got {events[:1]}"))
        return (step["id"], False, diffs)
    if events[0][2] != step["content_type"]:
        diffs.append(("content_type", f"expected {step['content_type']!r}, got {events[0][2]!r}"))
    want = [(e["type"], e["object"]["metadata"]["name"]) for e in step["events"] if e["object"]["metadata"]["name"] == "c1"]
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in events[1:] if e["object"]["metadata"]["name"] == "c1"]
    if want != got:
        diffs.append(("events", f"c1: expected {want}, got {got}"))
    names = {e["object"]["metadata"]["name"] for e in events[1:]}
    for e in step["events"]:
        if e["object"]["metadata"]["name"] not in names:
            diffs.append((f"events.{e['object']['metadata']['name']}", "not seen"))
    for e, a in zip([e for e in step["events"] if e["object"]["metadata"]["name"] == "c1"],
                    [e for e in events[1:] if e["object"]["metadata"]["name"] == "c1"]):
        compare(json.loads(sub(json.dumps(e["object"]))), a["object"], f"events.c1.{e['type']}", holders, diffs)
    return (step["id"], not [d for d in diffs if d[0] == "status"], diffs)


def allowed(scenario, step, path, message=""):
    for (s, st, p), _ in ALLOWED.items():
        if p == "group not served" and message == "group not served by the double" and s == scenario:
            return True
        if s in ("*", scenario) and st in ("*", step) and (p == "*" or path == p or path.startswith(p + ".") or path.startswith(p + "[") or path.endswith("." + p)):
            return True
    return False


def main(argv):
    directory, verbose = argv[0], "--verbose" in argv
    httpd = server.TCPServer(("127.0.0.1", 0), server.Handler)
    server.STANDALONE["cluster"] = "conformance"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server.Controllers(lambda: list(server.CLUSTERS.values())).start()
    port = httpd.server_address[1]
    files = sorted(f for f in os.listdir(directory) if f.endswith(".json"))
    if len(files) < 19:
        raise SystemExit(f"expected the 19 recorded scenarios in {directory}, found {len(files)}")
    steps = statuses = bodies = failures = 0
    for file in files:
        with open(os.path.join(directory, file)) as f:
            scenario = json.load(f)
        for step_id, status_ok, diffs in run_scenario(port, scenario):
            steps += 1
            statuses += status_ok
            real = [d for d in diffs if not allowed(scenario["name"], step_id, d[0], d[1])]
            bodies += not [d for d in diffs if d[0] != "status"]
            failures += bool(real)
            for path, message in diffs:
                mark = "  allowed" if (path, message) not in real else "DIFFERENT"
                if mark == "DIFFERENT" or verbose:
                    print(f"{mark} {scenario['name']}/{step_id}: {path}: {message}")
    print(f"conformance: {len(files)} scenarios, {steps} steps: {statuses} of {steps} status codes match, "
          f"{bodies} of {steps} bodies match entirely, {failures} steps with differences that are not allowed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
