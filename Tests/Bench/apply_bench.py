#!/usr/bin/env python3
"""Server-side apply benchmark against the lab's API double, measured in one run: 500 objects (10
namespaces, 10 CRDs each with a custom object, 470 ConfigMaps across the namespaces) applied by
Parvester's applier (width 8), first creating them, then again with nothing to change (a no-op), fresh
names each round. Reports wall time, the requests Parvester sent (counted by the API double, by User-Agent)
and requests per object. Brings up its own one-node lab cluster and tears it down."""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import up_bench  # noqa: E402  (its lab and inventory helpers)

ROOT, LAB = up_bench.ROOT, up_bench.LAB
BENCH = os.path.join(ROOT, ".build", "release", "parvester-bench")
ROUNDS, WIDTH = 3, 8


def manifest(path, tag):
    docs = []
    for n in range(10):
        docs.append(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: bench-{tag}-{n}}}\n")
        docs.append(f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: things{n}.{tag}.bench.test}}
spec:
  group: {tag}.bench.test
  scope: Namespaced
  names: {{plural: things{n}, singular: thing{n}, kind: Thing{n}}}
  versions: [{{name: v1, served: true, storage: true, schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}]
""")
        docs.append(f"apiVersion: {tag}.bench.test/v1\nkind: Thing{n}\nmetadata: {{name: t{n}, namespace: bench-{tag}-{n}}}\nspec: {{n: {n}}}\n")
    for i in range(470):
        docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: bench-{tag}-{i % 10}}}\ndata: {{i: \"{i}\"}}\n")
    with open(path, "w") as f:
        f.write("---\n".join(docs))
    return len(docs)


def double(method, path):
    """The API double's own endpoint on its Unix socket (request counters)."""
    state = json.load(open(os.path.join(LAB, "lab.json")))
    connection = http.client.HTTPConnection("localhost")
    connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.sock.connect(state["kube_socket"])
    connection.request(method, path)
    return json.loads(connection.getresponse().read() or b"{}")


def parvester_requests():
    return sum(n for counts in double("GET", "/_lab/requests").values()
               for agent, n in counts.get("userAgents", {}).items() if agent.startswith("parvester/"))


def timed(kubeconfig, path):
    double("DELETE", "/_lab/requests")
    out = subprocess.run([BENCH, "apply", kubeconfig, str(WIDTH), path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"apply failed: {out.stderr}")
    return float(out.stdout.strip()), parvester_requests()


def main():
    subprocess.run(["swift", "build", "-c", "release", "--product", "parvester"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["swift", "build", "-c", "release", "--product", "parvester-bench"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    up_bench.lab("up", "1")
    work = os.path.join(LAB, "apply-bench")
    os.makedirs(work, exist_ok=True)
    try:
        inventory = os.path.join(work, "inventory.yaml")
        up_bench.inventory(inventory, "bench-apply", 1, 1)
        state = os.path.join(work, "state")
        up_bench.up(inventory, state)
        kubeconfig = os.path.join(state, "kubeconfig")
        create, noop = [], []
        count = 0
        for round_ in range(ROUNDS):
            path = os.path.join(work, f"m-{round_}.yaml")
            count = manifest(path, f"r{round_}")
            create.append(timed(kubeconfig, path))
            noop.append(timed(kubeconfig, path))
        for name, runs in (("create", create), ("no-op", noop)):
            seconds = statistics.median(r[0] for r in runs)
            requests = statistics.median(r[1] for r in runs)
            print(f"apply {count} objects (10 namespaces, 10 CRDs), {name}, median of {ROUNDS} (width {WIDTH}): {seconds:.2f}s "
                  f"= {count / seconds:.0f} objects/s; {requests:.0f} requests = {requests / count:.2f} per object")
        c, n = statistics.median(r[0] for r in create), statistics.median(r[0] for r in noop)
        print(f"apply: no-op / create wall time = {n / c:.2f}")
    finally:
        up_bench.lab("down")


if __name__ == "__main__":
    main()
