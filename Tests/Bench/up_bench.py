#!/usr/bin/env python3
"""`parvester up` benchmarks against the local lab, measured in one run. Brings up its own lab and tears
it down. Uses the release build.

1. No-op re-run of `up` on 50 nodes (3 servers, 47 agents) after a first build: wall time, and the ratio
   to OpenSSH's parallel floor (one `ssh NODE true` per node under xargs -P 50), measured alternately;
   beside each, the CPU time spent on the nodes per node (sshd and everything it starts), counted by a
   cgroup the lab's sshd processes are moved into for the measurement only.
2. Fresh build of 3 servers + 2 agents: wall time, and how much of it was Parvester's own work (the
   process's CPU time, user + system) as opposed to waiting on the nodes and the doubles.
3. Rolling upgrade of the 50 nodes from the lab's first RKE2 version to its second with
   `upgrade.maxUnavailable: 10%`: wall time, Parvester's CPU, and the longest time any server was not
   Ready (from the RKE2 doubles' stop and ready records).
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(ROOT, ".lab")
PARVESTER = os.path.join(ROOT, ".build", "release", "parvester")
NODES, SERVERS, ROUNDS = 50, 3, 5
USER = "pvuser"  # sudo without password; root's login shell on this machine starts slowly, for ssh too


def lab(*args):
    subprocess.run([sys.executable, os.path.join(ROOT, "Tests/Lab/lab.py"), *args], check=True, stdout=subprocess.DEVNULL)


def inventory(path, name, count, servers, version=None, extra=""):
    state = json.load(open(os.path.join(LAB, "lab.json")))
    nodes = state["nodes"][:count]
    artifacts = state["artifacts_by_version"][version] if version else state["artifacts"]
    lines = ["cluster:", f"  name: {name}", f"  address: {nodes[0]['address']}",
             f"  install: {{method: airgap, artifactsDir: {artifacts}}}", "  minFreeDisk: 1Gi"] + ([f"  version: \"{version}\""] if version else []) + [
             extra,
             "ssh:", f"  user: {USER}", f"  identityFile: {state['client_keys']['ed25519']}",
             f"  knownHostsFile: {state['known_hosts']}", "  concurrency: 50", "bridge: {uplink: eth1}",
             # The RKE2 phases only: the components' release URLs point outside the lab.
             "components: {localPathProvisioner: {enabled: false}, kubevirt: {enabled: false}, cdi: {enabled: false}, multus: {enabled: false}}",
             "nodes:"]
    for i, node in enumerate(nodes):
        lines.append(f"  - {{name: {node['name']}, address: {node['address']}, role: {'server' if i < servers else 'agent'}}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [node["address"] for node in nodes]


def up(inventory_path, state):
    """Runs `up`; returns (wall seconds, CPU seconds of the process, report)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run([PARVESTER, "up", "-i", inventory_path, "--state-dir", state, "--output", "json"],
                            capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    if result.returncode != 0:
        raise SystemExit(f"up failed: {report.get('aborted') or report.get('failedNodes') or result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, report


class NodeCPU:
    """CPU time of the lab nodes' sshd processes and all they start (sessions, shells, sudo, the doubles),
    from a cpuacct cgroup (cgroup v1) or a cgroup v2 directory the listeners are moved into; children
    inherit it. A measurement only: the lab itself never depends on it."""

    def __init__(self):
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        self.path = "/sys/fs/cgroup/parvester-bench-nodes" if v2 else "/sys/fs/cgroup/cpuacct/parvester-bench-nodes"
        self.v2 = v2
        os.makedirs(self.path, exist_ok=True)
        state = json.load(open(os.path.join(LAB, "lab.json")))
        for node in state["nodes"]:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(node["sshd_pid"]))

    def seconds(self):
        if self.v2:
            for line in open(os.path.join(self.path, "cpu.stat")):
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
        return int(open(os.path.join(self.path, "cpuacct.usage")).read()) / 1e9

    def remove(self):
        root = os.path.dirname(self.path) if not self.v2 else "/sys/fs/cgroup"
        for pid in open(os.path.join(self.path, "cgroup.procs")).read().split():
            try:
                with open(os.path.join(root, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass  # gone already
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def ssh_floor(addresses):
    options = ["-i", os.path.join(LAB, "id_ed25519"), "-o", f"UserKnownHostsFile={os.path.join(LAB, 'known_hosts')}",
               "-o", "BatchMode=yes", "-o", "KexAlgorithms=curve25519-sha256", "-o", "ControlMaster=no"]
    started = time.monotonic()
    subprocess.run(["xargs", "-P", str(len(addresses)), "-I{}", "ssh", *options, f"{USER}@{{}}", "true"],
                   input=("\n".join(addresses) + "\n").encode(), check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def upgrade_bench(big, state, work):
    """Section 3: the 50-node cluster rolled onto the lab's second RKE2 version."""
    lab_state = json.load(open(os.path.join(LAB, "lab.json")))
    versions = list(lab_state["artifacts_by_version"])
    inventory(big, "bench-big", NODES, SERVERS, version=versions[1], extra='upgrade: {maxUnavailable: "10%"}')
    since = time.time()
    wall, cpu, report = up(big, state)
    names = [node["name"] for node in lab_state["nodes"][:NODES]]
    listing = subprocess.run([sys.executable, os.path.join(ROOT, "Tests/Lab/lab.py"), "lifecycle", str(since), *names],
                             check=True, capture_output=True, text=True).stdout
    events = [json.loads(line) for line in listing.splitlines() if line.strip()]
    servers = set(names[:SERVERS])
    down, stopped = [], {}
    for event in sorted(events, key=lambda e: e["time"]):
        if event["node"] not in servers:
            continue
        if event["event"] == "stop":
            stopped[event["node"]] = event["time"]
        elif event["event"] == "ready" and event["node"] in stopped:
            down.append(event["time"] - stopped.pop(event["node"]))
    restarted = len({e["node"] for e in events if e["event"] == "ready" and e["version"] == versions[1]})
    print(f"rolling upgrade {versions[0]} → {versions[1]} of {NODES} nodes ({SERVERS} servers one at a time, agents 10% = "
          f"{max(1, (NODES - SERVERS) * 10 // 100)} at a time): {wall:.1f}s wall; Parvester's CPU {cpu:.2f}s; "
          f"longest time a server was down {max(down):.1f}s; {restarted} of {NODES} nodes came back on {versions[1]}")


def main():
    subprocess.run(["swift", "build", "-c", "release", "--product", "parvester"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    lab("up", str(NODES))
    work = tempfile.mkdtemp(prefix="parvester-up-bench-", dir=LAB)
    try:
        small = os.path.join(work, "small.yaml")
        inventory(small, "bench-small", 5, SERVERS)
        wall, cpu, report = up(small, os.path.join(work, "state-small"))
        phases = {}
        for step in report.get("steps", []):
            phases[step["phase"]] = max(phases.get(step["phase"], 0), step["seconds"])
        print(f"fresh build of {SERVERS} servers + 2 agents: {wall:.1f}s wall; Parvester's own work (CPU) {cpu:.2f}s "
              f"= {100 * cpu / wall:.1f}% of it, the rest waiting on nodes and doubles")
        slowest = sorted(phases.items(), key=lambda kv: -kv[1])[:4]
        print("  longest phases (slowest node): " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in slowest))

        big = os.path.join(work, "big.yaml")
        addresses = inventory(big, "bench-big", NODES, SERVERS)
        state = os.path.join(work, "state-big")
        first, _, _ = up(big, state)
        print(f"first build of {NODES} nodes ({SERVERS} servers, {NODES - SERVERS} agents): {first:.1f}s")
        ours, theirs, cpus, our_nodes, their_nodes = [], [], [], [], []
        nodes_cpu = NodeCPU()
        try:
            for _ in range(ROUNDS):  # alternate, so drift on a shared machine hits both alike
                before = nodes_cpu.seconds()
                wall, cpu, report = up(big, state)
                our_nodes.append((nodes_cpu.seconds() - before) / NODES)
                if report.get("changed") != 0:
                    raise SystemExit(f"the re-run changed {report.get('changed')} things; it must change nothing")
                ours.append(wall)
                cpus.append(cpu)
                before = nodes_cpu.seconds()
                theirs.append(ssh_floor(addresses))
                their_nodes.append((nodes_cpu.seconds() - before) / NODES)
        finally:
            nodes_cpu.remove()
        upgrade_bench(big, state, work)
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(f"no-op re-run of up on {NODES} nodes, median of {ROUNDS}: parvester {ours_s:.2f}s (CPU {statistics.median(cpus):.2f}s)   "
              f"openssh floor (xargs -P {NODES} ssh true) {theirs_s:.2f}s   ratio {ours_s / theirs_s:.2f}")
        print(f"  node-side CPU per node (sshd and all it starts), median: parvester {1000 * statistics.median(our_nodes):.0f} ms   "
              f"openssh floor {1000 * statistics.median(their_nodes):.0f} ms   ratio {statistics.median(our_nodes) / statistics.median(their_nodes):.2f}")
    finally:
        lab("down")


if __name__ == "__main__":
    main()
