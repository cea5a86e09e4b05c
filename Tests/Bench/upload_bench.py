#!/usr/bin/env python3
"""CDI upload benchmark against the lab's upload proxy, measured in one run. Brings up its own one-node
lab cluster (with CDI) and tears it down. Uses the release build.

1. Throughput: a 256 MiB image streamed by Parvester's upload client (parvester-bench cdi-upload: the
   transfer alone, token and DataVolume prepared beforehand) vs a plain HTTP PUT of the same file with
   libcurl (the curl tool) to the same server (the proxy itself, not through a NodePort), alternately,
   median of 3.
2. Memory: peak RSS of `parvester image upload` (the whole command) for a 64 MiB and a 256 MiB image:
   streaming keeps it flat, whatever the file's size.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import up_bench  # noqa: E402  (its lab and inventory helpers)

ROOT, LAB, PARVESTER = up_bench.ROOT, up_bench.LAB, up_bench.PARVESTER
BENCH = os.path.join(ROOT, ".build", "release", "parvester-bench")
ROUNDS, MIB = 3, 256


def peak_rss_mib(command):
    """Runs command; its own peak resident set in MiB (wait4's rusage, this child alone)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{command[1:3]} failed: {process.stderr.read().decode()}")
    return usage.ru_maxrss / 1024


def main():
    for product in ("parvester", "parvester-bench"):
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    up_bench.lab("up", "1")
    work = os.path.join(LAB, "upload-bench")
    os.makedirs(work, exist_ok=True)
    try:
        lab = json.load(open(os.path.join(LAB, "lab.json")))
        inventory = os.path.join(work, "inventory.yaml")
        up_bench.inventory(inventory, "bench-upload", 1, 1)
        text = open(inventory).read().replace(
            "components: {localPathProvisioner: {enabled: false}, kubevirt: {enabled: false}, cdi: {enabled: false}, multus: {enabled: false}}",
            f"components: {{mirror: \"{lab['manifests_url']}\", kubevirt: {{enabled: false}}, multus: {{enabled: false}}}}")
        open(inventory, "w").write(text)
        state = os.path.join(work, "state")
        up_bench.up(inventory, state)
        kubeconfig = os.path.join(state, "kubeconfig")
        images = {}
        for size in (64, MIB):
            images[size] = os.path.join(work, f"image-{size}.img")
            subprocess.run(["sh", "-c", f"head -c {size}M /dev/urandom > '{images[size]}'"], check=True)

        parvester, curl = [], []
        for round_ in range(ROUNDS):
            out = subprocess.run([BENCH, "cdi-upload", kubeconfig, f"bench-{round_}", images[MIB], lab["upload_proxy_url"]], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"parvester-bench cdi-upload failed: {out.stderr}")
            parvester.append(float(out.stdout.strip()))
            started = time.monotonic()
            subprocess.run(["curl", "-sS", "-o", "/dev/null", "--fail", "-T", images[MIB], "--cacert", lab["upload_proxy_ca"],
                            lab["upload_proxy_url"] + "/lab/sink"], check=True)
            curl.append(time.monotonic() - started)
        p, c = statistics.median(parvester), statistics.median(curl)
        print(f"upload {MIB} MiB to the lab's CDI upload proxy, median of {ROUNDS}: parvester {MIB / p:.0f} MiB/s ({p:.2f}s)   "
              f"plain PUT with libcurl (curl -T) {MIB / c:.0f} MiB/s ({c:.2f}s)   ratio {c / p:.2f} (parvester / plain)")

        direct = ["--upload-proxy-url", lab["upload_proxy_url"], "--kubeconfig", kubeconfig, "--output", "json"]
        small = peak_rss_mib([PARVESTER, "image", "upload", "mem-64", "--file", images[64], "--size", "1Gi", *direct])
        large = peak_rss_mib([PARVESTER, "image", "upload", f"mem-{MIB}", "--file", images[MIB], "--size", "1Gi", *direct])
        print(f"peak memory of `parvester image upload`: 64 MiB image {small:.1f} MiB, {MIB} MiB image {large:.1f} MiB "
              f"(ratio {large / small:.2f}; flat means streamed)")
    finally:
        up_bench.lab("down")


if __name__ == "__main__":
    main()
