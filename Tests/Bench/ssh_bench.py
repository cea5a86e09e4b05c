#!/usr/bin/env python3
"""SSH benchmarks against the local lab, Parvester vs OpenSSH, measured in one run (ratios, not timings,
are what compare on a shared machine). Brings up its own lab and tears it down.

1. Connect to 50 nodes and run `true` on each: Parvester's parallel runner vs `ssh` under xargs -P with
   the same width and the same key exchange (curve25519-sha256). Goal: ratio <= 1.5.
2. Upload 256 MiB to one node: Parvester's SFTP vs scp. Goal: throughput ratio >= 0.8. Both write a
   new file each round (old targets are removed outside the timing): replacing an existing file costs
   ext4 a flush of the new data when Parvester renames over it, which is durability, not transfer speed.
"""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(ROOT, ".lab")
BENCH = os.path.join(ROOT, ".build", "release", "parvester-bench")
NODES, ROUNDS, UPLOAD_MIB = 50, 3, 256


def lab(*args):
    subprocess.run([sys.executable, os.path.join(ROOT, "Tests/Lab/lab.py"), *args], check=True, stdout=subprocess.DEVNULL)


def timed(args, **kwargs):
    started = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.monotonic() - started


def ssh_options():
    return ["-i", os.path.join(LAB, "id_ed25519"), "-o", f"UserKnownHostsFile={os.path.join(LAB, 'known_hosts')}",
            "-o", "BatchMode=yes", "-o", "KexAlgorithms=curve25519-sha256", "-o", "ControlMaster=no"]


def main():
    subprocess.run(["swift", "build", "-c", "release", "--product", "parvester-bench"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    lab("up", str(NODES))
    try:
        inventory = os.path.join(LAB, "inventory.yaml")
        addresses = "\n".join(f"10.251.0.{10 + i}" for i in range(1, NODES + 1)) + "\n"
        ours, theirs = [], []
        for _ in range(ROUNDS):  # alternate, so drift on a shared machine hits both alike
            ours.append(timed([BENCH, "exec", inventory, "true"]))
            theirs.append(timed(["xargs", "-P", str(NODES), "-I{}", "ssh", *ssh_options(), "root@{}", "true"],
                                input=addresses.encode()))
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(f"connect+true on {NODES} nodes, width {NODES}, median of {ROUNDS}:")
        print(f"  parvester {ours_s:.2f}s   openssh (xargs -P {NODES}) {theirs_s:.2f}s   ratio {ours_s / theirs_s:.2f} (goal <= 1.5)")

        payload = os.path.join(LAB, "bench-upload.bin")
        with open(payload, "wb") as f:
            for _ in range(UPLOAD_MIB):
                f.write(os.urandom(1 << 20))
        up, scp = [], []
        clear = ["ssh", *ssh_options(), "root@10.251.0.11", "rm -f /var/lib/rancher/bench.bin /var/lib/rancher/bench-scp.bin"]
        for _ in range(ROUNDS):
            subprocess.run(clear, check=True)
            up.append(timed([BENCH, "upload", inventory, "lab1", payload, "/var/lib/rancher/bench.bin"]))
            subprocess.run(clear, check=True)
            scp.append(timed(["scp", "-q", *ssh_options(), payload, "root@10.251.0.11:/var/lib/rancher/bench-scp.bin"]))
        up_rate, scp_rate = UPLOAD_MIB / statistics.median(up), UPLOAD_MIB / statistics.median(scp)
        print(f"upload {UPLOAD_MIB} MiB to one node, median of {ROUNDS}:")
        print(f"  parvester sftp {up_rate:.0f} MiB/s   scp {scp_rate:.0f} MiB/s   ratio {up_rate / scp_rate:.2f} (goal >= 0.8)")
    finally:
        lab("down")


if __name__ == "__main__":
    main()
