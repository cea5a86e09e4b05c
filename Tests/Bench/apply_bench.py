#!/usr/bin/env python3
"""Server-side apply benchmark against the lab's API double, measured in one run: 500 objects (10
namespaces, 10 CRDs, 10 custom objects and 470 ConfigMaps across the namespaces) applied by Parvester's
applier in parallel (width 8) vs the same client one object at a time (width 1), alternately, fresh
names each round. Brings up its own one-node lab cluster and tears it down."""
import os
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


def timed(kubeconfig, width, path):
    out = subprocess.run([BENCH, "apply", kubeconfig, str(width), path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"apply failed: {out.stderr}")
    return float(out.stdout.strip())


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
        parallel, serial = [], []
        count = 0
        for round_ in range(ROUNDS):
            for width, results in ((WIDTH, parallel), (1, serial)):
                path = os.path.join(work, f"m-{round_}-{width}.yaml")
                count = manifest(path, f"r{round_}w{width}")
                results.append(timed(kubeconfig, width, path))
        p, s = statistics.median(parallel), statistics.median(serial)
        print(f"apply {count} objects (10 namespaces, 10 CRDs), median of {ROUNDS}: parallel (width {WIDTH}) {p:.2f}s "
              f"= {count / p:.0f} objects/s; one at a time {s:.2f}s = {count / s:.0f} objects/s; ratio {s / p:.2f}x faster")
    finally:
        up_bench.lab("down")


if __name__ == "__main__":
    main()
