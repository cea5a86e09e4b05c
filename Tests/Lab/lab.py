#!/usr/bin/env python3
"""The local lab: N simulated nodes on this machine, each a network namespace running a real sshd.

  lab.py up N        tear down any previous lab, then start N nodes (lab1..labN)
  lab.py down        stop exactly what `up` started and remove exactly what it created
  lab.py status      one line per node
  lab.py shell NODE [COMMAND...]   a root shell on a node (or run COMMAND there), over the lab's own ssh key
  lab.py fault NODE link-down|link-up|sshd-stop|sshd-start|latency MS|latency-off
  lab.py lifecycle SINCE NODE...   the RKE2 doubles' start/ready/stop records since SINCE (unix time), JSON lines
  lab.py boot NODE [reset]   a simulated reboot of the node's network (doubles/boot); with reset, its
                     network configuration files go first (eth0 gets the lab's addresses back)
  lab.py streams     the virt-api double's console and VNC connections, pings and closes per VMI (JSON)
  lab.py kube-fault NODE status CODE COUNT [RETRY_AFTER] | slow SECONDS COUNT | drop COUNT | legacy-discovery | clear
                     | upload-token-ttl SECONDS | upload-drop BYTES | console-drop BYTES
                     (the API double of NODE's cluster answers CODE, slowly, or drops the connection; CDI
                     upload tokens live SECONDS; the next upload's, or VM console's, connection drops after BYTES)

Node i has eth0 = 10.251.x.y/16 on the host bridge pvlab-mgmt (the host is 10.251.0.1) and eth1 on the
address-less bridge pvlab-uplink. Its /etc/rancher, /var/lib/rancher, /usr/local and /etc/systemd/system
are private per-node directories (a mount namespace), so a file written on one node is seen nowhere
else. The host runs two lab services: the Kubernetes API double (kubeapi/, one state for every
cluster, reached by the RKE2 doubles over a Unix socket) and the manifest and image server (manifests/,
on HOST_ADDRESS:8080 and :8443). Everything the lab writes lives under the lab directory (default: .lab/ in the repository), whose
lab.json records what was created; tests and benchmarks read it.
"""
import hashlib
import http.client
import io
import json
import os
import tarfile
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.abspath(os.environ.get("PARVESTER_LAB_DIR", os.path.join(ROOT, ".lab")))
STATE = os.path.join(LAB, "lab.json")
MGMT_BRIDGE, UPLINK_BRIDGE = "pvlab-mgmt", "pvlab-uplink"
HOST_ADDRESS = "10.251.0.1"
# Each node's own copy of these (bind mounts in its mount namespace): everything RKE2, its uninstall script
# and Parvester write or remove on a node, so that no node's work reaches the host or another node.
PRIVATE_DIRS = ["/etc/rancher", "/var/lib/rancher", "/usr/local", "/etc/systemd/system", "/var/lib/parvester-systemd",
                "/var/lib/parvester", "/opt/cni", "/etc/cni", "/var/lib/cni", "/var/lib/kubelet", "/opt/local-path-provisioner",
                "/lib/modules", "/etc/netplan", "/etc/network", "/etc/systemd/network", "/tmp"]
DOUBLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "doubles")
USERS = {"pvuser": None, "pvpass": "lab-sudo-password"}  # sudo without / with a password
SUDOERS = "/etc/sudoers.d/parvester-lab"
KEY_PASSPHRASE = "lab-key-passphrase"
# The RKE2 double is built for each of these versions (airgap artifacts and release downloads): the first is
# the lab inventory's; upgrade tests move clusters to the later ones.
RKE2_VERSIONS = os.environ.get("PARVESTER_LAB_RKE2_VERSIONS", "v1.28.11+rke2r1,v1.29.6+rke2r1").split(",")
RKE2_VERSION = RKE2_VERSIONS[0]
KUBE_SOCKET = os.path.join(LAB, "kubeapi.sock")
# A node's root gets a plain ~/.bashrc: bash sources it for every command sshd runs, and this machine's
# own (pyenv, cargo) takes a lock shared by all nodes and adds stderr lines and seconds to each command.
NODE_BASHRC = "# ~/.bashrc of a lab node's root: nothing, as on a fresh Debian server.\n"
HOLD = "/run/parvester-lab-hold"  # an empty mount point, used only inside node mount namespaces
MANIFEST_PORTS = (8080, 8443)
UPLOAD_PROXY_PORT = 8444  # CDI's upload proxy, served by the API double


def sh(*args, check=True, quiet=False):
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"lab: {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def address(i):
    n = 10 + i
    return f"10.251.{n // 256}.{n % 256}"


def address6(i):
    return f"fd00:251::{10 + i:x}"


def namespace(i):
    return f"pvlab-{i}"


def node_dir(name):
    return os.path.join(LAB, "nodes", name)


def require_root():
    if os.geteuid() != 0:
        raise SystemExit("lab: must run as root (it creates network namespaces and users)")
    for tool in ["ip", "sshd", "ssh-keygen", "unshare", "sudo"]:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"lab: {tool} is missing; run `make deps`")


def keygen(path, kind, passphrase="", comment="parvester-lab"):
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", comment, "-f", path]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    sh(*args)


# ---------------------------------------------------------------------------------------- up

def up(count):
    require_root()
    if count < 1 or count > 500:
        raise SystemExit("lab: N must be between 1 and 500")
    down(quiet=True)
    os.makedirs(os.path.join(LAB, "nodes"), exist_ok=True)
    os.makedirs(os.path.join(LAB, "authorized_keys"), exist_ok=True)
    state = {"dir": LAB, "host_address": HOST_ADDRESS, "bridges": [], "created_dirs": [], "users": [],
             "sudoers": None, "nodes": []}
    save(state)

    # Client keys: the lab's own, never the user's. RSA is there to show libssh2 1.10 cannot use it.
    keys = {"ed25519": "id_ed25519", "ed25519_passphrase": "id_ed25519_passphrase", "ecdsa": "id_ecdsa", "rsa": "id_rsa"}
    for kind, name in keys.items():
        keygen(os.path.join(LAB, name), kind.split("_")[0], KEY_PASSPHRASE if "passphrase" in kind else "")
    public = "".join(open(os.path.join(LAB, name + ".pub")).read() for name in keys.values())

    for user, password in USERS.items():
        if sh("id", user, check=False).returncode != 0:
            sh("useradd", "--create-home", "--shell", "/bin/bash", user)
            state["users"].append(user)
            save(state)
        # "*": no password login, but not locked (sshd without PAM refuses locked accounts).
        sh("usermod", "-p", "*", user)
        if password:
            subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    with open(SUDOERS, "w") as f:
        f.write("pvuser ALL=(ALL) NOPASSWD: ALL\npvpass ALL=(ALL) ALL\n")
    os.chmod(SUDOERS, 0o440)
    state["sudoers"] = SUDOERS
    for user in ["root", *USERS]:
        with open(os.path.join(LAB, "authorized_keys", user), "w") as f:
            f.write(public)

    raise_neighbour_limits(state)
    for directory in PRIVATE_DIRS:
        if not os.path.isdir(directory):
            os.makedirs(directory)
            state["created_dirs"].append(directory)
    os.makedirs("/run/sshd", exist_ok=True)

    for bridge, addr in [(MGMT_BRIDGE, f"{HOST_ADDRESS}/16"), (UPLINK_BRIDGE, None)]:
        sh("ip", "link", "add", bridge, "type", "bridge")
        state["bridges"].append(bridge)
        if addr:
            sh("ip", "addr", "add", addr, "dev", bridge)
            # nodad: usable at once (duplicate address detection would delay it by seconds).
            sh("ip", "addr", "add", "fd00:251::1/64", "dev", bridge, "nodad")
        sh("ip", "link", "set", bridge, "up")
    save(state)
    start_services(state)

    known_hosts = []
    for i in range(1, count + 1):
        node = start_node(i)
        state["nodes"].append(node)
        save(state)
        key_type, key = open(node["host_key"] + ".pub").read().split(" ", 2)[:2]
        known_hosts.append(f"{node['address']} {key_type} {key}")
        known_hosts.append(f"{node['address6']} {key_type} {key}")
    with open(os.path.join(LAB, "known_hosts"), "w") as f:
        f.write("\n".join(known_hosts) + "\n")
    shutil.copy(os.path.join(LAB, "known_hosts"), os.path.join(LAB, "known_hosts_hashed"))
    sh("ssh-keygen", "-q", "-H", "-f", os.path.join(LAB, "known_hosts_hashed"))
    for leftover in [os.path.join(LAB, "known_hosts_hashed.old")]:
        if os.path.exists(leftover):
            os.remove(leftover)

    state["artifacts_by_version"] = {version: build_rke2_artifacts(version) for version in RKE2_VERSIONS}
    state["artifacts"] = state["artifacts_by_version"][RKE2_VERSION]
    state["disk_image"], state["vm_password_file"] = write_vm_inputs()
    state.update({
        "client_keys": {kind: os.path.join(LAB, name) for kind, name in keys.items()},
        "key_passphrase": KEY_PASSPHRASE,
        "known_hosts": os.path.join(LAB, "known_hosts"),
        "known_hosts_hashed": os.path.join(LAB, "known_hosts_hashed"),
        "sudo_passwords": {u: p for u, p in USERS.items() if p},
    })
    save(state)
    for node in state["nodes"]:
        wait_for_port(node["address"], 22, node["name"])
    write_inventory(state)
    print(f"lab: {count} nodes up ({state['nodes'][0]['address']} … {state['nodes'][-1]['address']}); state in {STATE}")


# The lab's nodes share one kernel, and so one ARP table (its limits are not per namespace): N nodes that all
# talk to each other (Parvester's port check does) need N² entries, where each real machine needs N. Above
# gc_thresh3 the kernel drops packets ("neighbor table overflow"). Raised while the lab is up, put back by down.
NEIGHBOUR_LIMITS = {"gc_thresh1": 4096, "gc_thresh2": 16384, "gc_thresh3": 32768}


def raise_neighbour_limits(state):
    state["sysctls"] = {}
    for family in ("ipv4", "ipv6"):
        for name, wanted in NEIGHBOUR_LIMITS.items():
            path = f"/proc/sys/net/{family}/neigh/default/{name}"
            try:
                current = int(open(path).read())
            except OSError:
                continue
            if current < wanted:
                state["sysctls"][path] = current
                with open(path, "w") as f:
                    f.write(str(wanted))
    save(state)


def restore_neighbour_limits(state):
    for path, value in state.get("sysctls", {}).items():
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError:
            pass


def start_services(state):
    """The Kubernetes API double and the manifest server, recorded so that `down` stops exactly them."""
    here = os.path.dirname(os.path.abspath(__file__))
    ca, cert, key = (os.path.join(LAB, name) for name in ("manifests-ca.crt", "manifests.crt", "manifests.key"))
    ca_key = os.path.join(LAB, "manifests-ca.key")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
       "-out", ca, "-days", "30", "-subj", "/CN=parvester lab manifests CA")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
       "-out", key + ".csr", "-subj", "/CN=manifests.lab.parvester.test")
    with open(key + ".ext", "w") as f:
        f.write(f"subjectAltName=IP:{HOST_ADDRESS},DNS:manifests.lab.parvester.test\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", key + ".csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
       "-days", "30", "-extfile", key + ".ext")
    # CDI's upload proxy (served by the API double on the host): its own signer CA, as CDI has.
    up_ca, up_cert, up_key = (os.path.join(LAB, name) for name in ("uploadproxy-ca.crt", "uploadproxy.crt", "uploadproxy.key"))
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", up_ca + ".key",
       "-out", up_ca, "-days", "30", "-subj", "/CN=cdi-uploadproxy-signer")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", up_key,
       "-out", up_key + ".csr", "-subj", "/CN=cdi-uploadproxy")
    with open(up_key + ".ext", "w") as f:
        f.write(f"subjectAltName=IP:{HOST_ADDRESS},DNS:cdi-uploadproxy,DNS:cdi-uploadproxy.cdi,DNS:cdi-uploadproxy.cdi.svc\n"
                "extendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", up_key + ".csr", "-CA", up_ca, "-CAkey", up_ca + ".key", "-CAcreateserial", "-out", up_cert,
       "-days", "30", "-extfile", up_key + ".ext")
    state["upload_proxy_url"] = f"https://{HOST_ADDRESS}:{UPLOAD_PROXY_PORT}"
    state["upload_proxy_ca"] = up_ca
    services = {
        "kubeapi": [sys.executable, "-m", "kubeapi.server", KUBE_SOCKET, HOST_ADDRESS, str(UPLOAD_PROXY_PORT), up_cert, up_key, up_ca],
        "manifests": [sys.executable, os.path.join(here, "manifests", "server.py"), HOST_ADDRESS,
                      str(MANIFEST_PORTS[0]), str(MANIFEST_PORTS[1]), cert, key, os.path.join(LAB, "manifests-access.log"),
                      ",".join(f"{v}={artifacts_dir(v)}" for v in RKE2_VERSIONS)],
    }
    state["services"] = []
    for name, command in services.items():
        log = open(os.path.join(LAB, f"{name}.log"), "ab")
        process = subprocess.Popen(command, cwd=here, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        # What identifies the process as ours in /proc/PID/cmdline: a path inside this lab's directory.
        marker = KUBE_SOCKET if name == "kubeapi" else os.path.join(LAB, "manifests-access.log")
        state["services"].append({"name": name, "pid": process.pid, "marker": marker})
        save(state)
    deadline = time.time() + 20
    while not os.path.exists(KUBE_SOCKET):
        if time.time() > deadline:
            raise SystemExit(f"lab: the Kubernetes API double did not start; see {LAB}/kubeapi.log")
        time.sleep(0.05)
    wait_for_port(HOST_ADDRESS, MANIFEST_PORTS[0], "manifest server", log=os.path.join(LAB, "manifests.log"))
    state.update({"kube_socket": KUBE_SOCKET, "manifests_ca": ca,
                  "manifests_url": f"http://{HOST_ADDRESS}:{MANIFEST_PORTS[0]}/",
                  "manifests_https_url": f"https://{HOST_ADDRESS}:{MANIFEST_PORTS[1]}/",
                  "manifests_access_log": os.path.join(LAB, "manifests-access.log")})


def stop_services(state):
    for service in state.get("services", []):
        if is_ours(service["pid"], service["marker"]):
            os.kill(service["pid"], signal.SIGTERM)
            for _ in range(100):
                if not is_ours(service["pid"], service["marker"]):
                    break
                time.sleep(0.02)


def write_vm_inputs():
    """What inventory/lab.yaml's vm1 needs from this machine: a disk image to upload (32 MiB, a qcow2
    magic then a pattern: the lab's CDI is simulated) and the VM's password in a file of its own."""
    images = os.path.join(LAB, "images")
    os.makedirs(images, exist_ok=True)
    image = os.path.join(images, "lab-cloud.qcow2")
    block = hashlib.sha256(b"parvester lab cloud image").digest() * 32768  # 1 MiB
    with open(image, "wb") as f:
        f.write(b"QFI\xfb\x00\x00\x00\x03")
        for _ in range(32):
            f.write(block)
    password = os.path.join(LAB, "vm1-password")
    with open(password, "w") as f:
        f.write("password\n")  # the memo's
    os.chmod(password, 0o600)
    return image, password


def artifacts_dir(version):
    """The first version's artifacts sit in .lab/artifacts (the lab inventory's), the others beside it."""
    return os.path.join(LAB, "artifacts" if version == RKE2_VERSION else f"artifacts-{version}")


def build_rke2_artifacts(version):
    """A directory shaped like RKE2's airgap artifacts, holding the lab's RKE2 double of `version`."""
    source = os.path.join(DOUBLES, "rke2")
    target = artifacts_dir(version)
    os.makedirs(target, exist_ok=True)
    members = {
        "bin/rke2": (open(os.path.join(source, "rke2")).read().replace("@VERSION@", version)
                     .replace("@KUBE_SOCKET@", KUBE_SOCKET).encode(), 0o755),
        "bin/rke2-killall.sh": (open(os.path.join(source, "rke2-killall.sh"), "rb").read(), 0o755),
        "bin/rke2-uninstall.sh": (open(os.path.join(source, "rke2-uninstall.sh"), "rb").read(), 0o755),
        "share/rke2/version": (version.encode(), 0o644),
    }
    for role in ("server", "agent"):
        for ext in ("service", "env"):
            members[f"lib/systemd/system/rke2-{role}.{ext}"] = (open(os.path.join(source, f"rke2-{role}.{ext}"), "rb").read(), 0o644)
    tarball = os.path.join(target, "rke2.linux-amd64.tar.gz")
    with tarfile.open(tarball, "w:gz") as archive:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    images = os.path.join(target, "rke2-images.linux-amd64.tar.zst")
    with open(images, "wb") as f:
        f.write(f"parvester lab: stand-in for RKE2 {version}'s image archive\n".encode())
    with open(os.path.join(target, "sha256sum-amd64.txt"), "w") as f:
        for path in (tarball, images):
            f.write(f"{hashlib.sha256(open(path, 'rb').read()).hexdigest()}  {os.path.basename(path)}\n")
    shutil.copy(os.path.join(source, "install.sh"), os.path.join(target, "install.sh"))
    return target


def start_node(i):
    name, ns, addr = f"lab{i}", namespace(i), address(i)
    directory = node_dir(name)
    os.makedirs(directory, exist_ok=True)
    for private in PRIVATE_DIRS:
        os.makedirs(os.path.join(directory, "root" + private), exist_ok=True)
    os.chmod(os.path.join(directory, "root/tmp"), 0o1777)  # a /tmp of its own, like any machine
    for sub in ["bin", "sbin", "lib", "share", "include", "etc"]:
        os.makedirs(os.path.join(directory, "root/usr/local", sub), exist_ok=True)
    # No init system in a namespace: systemctl and journalctl are doubles, ahead of /usr/bin on PATH.
    # apt-get is one too: a node's package manager must never install on this machine.
    for tool in ["systemctl", "journalctl", "apt-get"]:
        shutil.copy(os.path.join(DOUBLES, tool), os.path.join(directory, "root/usr/local/bin", tool))
    os.makedirs(os.path.join(directory, "root/usr/local/lib/parvester-lab"), exist_ok=True)
    for tool in ["systemctl.py", "virt-host-validate", "netdouble.py", "boot"]:
        shutil.copy(os.path.join(DOUBLES, tool), os.path.join(directory, "root/usr/local/lib/parvester-lab", tool))
    # The network stacks' tools (netplan, ifupdown, networkctl) and systemd-run: doubles too (netdouble.py).
    shutil.copy(os.path.join(DOUBLES, "systemd-run"), os.path.join(directory, "root/usr/local/bin/systemd-run"))
    for tool, where in [("netplan", "sbin"), ("ifup", "sbin"), ("ifdown", "sbin"), ("networkctl", "bin")]:
        front = os.path.join(directory, "root/usr/local", where, tool)
        with open(front, "w") as f:
            f.write(f'#!/bin/sh\nexec /usr/bin/python3 /usr/local/lib/parvester-lab/netdouble.py {tool} "$@"\n')
        os.chmod(front, 0o755)
    # What RKE2's host checks read of the kernel, as a Debian 12 node has it: br_netfilter and overlay in
    # the module index, and cgroup v2. (This machine's kernel may have neither; tests take them away.)
    release = os.uname().release
    os.makedirs(os.path.join(directory, "root/lib/modules", release), exist_ok=True)
    with open(os.path.join(directory, "root/lib/modules", release, "modules.dep"), "w") as f:
        f.write("kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko\n"
                "kernel/fs/overlayfs/overlay.ko:\n")
    os.makedirs(os.path.join(directory, "cgroup"), exist_ok=True)
    with open(os.path.join(directory, "cgroup", "cgroup.controllers"), "w") as f:
        f.write("cpuset cpu io memory hugetlb pids rdma misc\n")
    host_key = os.path.join(directory, "ssh_host_ed25519_key")
    keygen(host_key, "ed25519", comment=name)

    mgmt, uplink = f"pvl{i}m", f"pvl{i}u"
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", mgmt, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "link", "add", uplink, "type", "veth", "peer", "name", "eth1", "netns", ns)
    for host_side, bridge in [(mgmt, MGMT_BRIDGE), (uplink, UPLINK_BRIDGE)]:
        sh("ip", "link", "set", host_side, "master", bridge, "up")
    sh("ip", "-n", ns, "addr", "add", f"{addr}/16", "dev", "eth0")
    sh("ip", "-n", ns, "addr", "add", f"{address6(i)}/64", "dev", "eth0", "nodad")
    for link in ["lo", "eth0", "eth1"]:
        sh("ip", "-n", ns, "link", "set", link, "up")

    config = os.path.join(directory, "sshd_config")
    with open(config, "w") as f:
        f.write(f"""ListenAddress {addr}:22
ListenAddress [{address6(i)}]:22
HostKey {host_key}
PidFile {directory}/sshd.pid
AuthorizedKeysFile {LAB}/authorized_keys/%u
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 200:30:400
MaxSessions 64
LogLevel ERROR
Subsystem sftp internal-sftp
""")
    node = {"name": name, "index": i, "namespace": ns, "address": addr, "address6": address6(i), "host_key": host_key,
            "sshd_config": config, "links": [mgmt, uplink], "dir": directory}
    node["sshd_pid"] = launch_sshd(node)
    return node


def launch_sshd(node):
    directory = node["dir"]
    with open(os.path.join(directory, "hosts"), "w") as f:
        f.write(f"127.0.0.1 localhost\n{node['address']} {node['name']}\n")
    mounts = " && ".join(f"mount --bind {directory}/root{p} {p}" for p in PRIVATE_DIRS if p != "/tmp")
    mounts += f" && mount --bind {directory}/hosts /etc/hosts && mount --bind {directory}/cgroup /sys/fs/cgroup"
    if os.path.exists("/root/.bashrc"):
        with open(os.path.join(directory, "root.bashrc"), "w") as f:
            f.write(NODE_BASHRC)
        mounts += f" && mount --bind {directory}/root.bashrc /root/.bashrc"
    # /tmp last. When the lab itself lives under /tmp (a clone in /tmp), the private /tmp would hide it
    # from the node (its sshd config, keys, artifacts, the API socket): hold it aside and mount it back.
    if (LAB + "/").startswith("/tmp/"):
        mounts += (f" && mkdir -p {HOLD} && mount --bind {LAB} {HOLD} && mount --bind {directory}/root/tmp /tmp"
                   f" && mkdir -p {LAB} && mount --bind {HOLD} {LAB}")
    else:
        mounts += f" && mount --bind {directory}/root/tmp /tmp"
    # A private mount and UTS namespace per node: its own /etc/rancher etc., and its own host name.
    script = f"{mounts} && hostname {node['name']} && exec /usr/sbin/sshd -D -e -f {node['sshd_config']}"
    log = open(os.path.join(directory, "sshd.log"), "ab")
    process = subprocess.Popen(
        ["ip", "netns", "exec", node["namespace"], "unshare", "--mount", "--uts", "--propagation", "private",
         "sh", "-c", script], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid


def wait_for_port(host, port, name, timeout=20, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"lab: {name} ({host}:{port}) did not come up; see {log or node_dir(name) + '/sshd.log'}")


def write_inventory(state):
    lines = [
        "# Written by Tests/Lab/lab.py for this lab; regenerated by every `make lab-up`.",
        "cluster:", "  name: lab", f"  address: {state['nodes'][0]['address']}", "  tlsSANs: [lab.parvester.test]",
        f"  install: {{method: airgap, artifactsDir: {state['artifacts']}}}",
        # The lab's nodes share this machine's disk: 1Gi free is plenty for the RKE2 double.
        "  minFreeDisk: 1Gi",
        "ssh:", "  user: root", f"  identityFile: {state['client_keys']['ed25519']}",
        f"  knownHostsFile: {state['known_hosts']}", "  connectTimeout: 5s", "  concurrency: 50",
        "bridge:", "  uplink: eth1", f"components: {{mirror: '{state['manifests_url']}'}}", "nodes:",
    ]
    for node in state["nodes"]:
        role = "server" if node["index"] == 1 else "agent"
        lines.append(f"  - {{name: {node['name']}, address: {node['address']}, role: {role}}}")
    with open(os.path.join(LAB, "inventory.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def save(state):
    os.makedirs(LAB, exist_ok=True)
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f, indent=2)
    os.replace(STATE + ".tmp", STATE)


def load():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        raise SystemExit(f"lab: no lab is up ({STATE} is missing); run `make lab-up`")


# -------------------------------------------------------------------------------------- down

def is_ours(pid, marker):
    """Only stop a process that is really one this lab started (PIDs get reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return False


def stop_sshd(node):
    pid = node.get("sshd_pid")
    if pid and is_ours(pid, node["sshd_config"]):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not is_ours(pid, node["sshd_config"]):
                break
            time.sleep(0.02)


def kill_namespace_processes(ns):
    """Sessions that outlived their sshd (a stopped listener leaves its children) also go."""
    pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def sweep():
    """Removes what a lab run that died before recording it may have left: only names with the lab's
    own prefixes (pvlab-N namespaces, pvlN[mu] links, the two lab bridges), and the lab's own two
    services (its API double and manifest server, whichever lab directory started them)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"Tests/Lab/manifests/server.py") for a in args) or b"kubeapi.server" in args:
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith("pvlab-") and name[len("pvlab-"):].isdigit():
            kill_namespace_processes(name)
            sh("ip", "netns", "del", name, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.split("\n"):
        parts = line.split(": ")
        if len(parts) > 1:
            name = parts[1].split("@")[0]
            if name in (MGMT_BRIDGE, UPLINK_BRIDGE) or (name.startswith("pvl") and name[3:-1].isdigit() and name[-1] in "mu"):
                sh("ip", "link", "del", name, check=False)


def down(quiet=False):
    require_root()
    if not os.path.exists(STATE):
        sweep()
        if not quiet:
            print("lab: nothing to tear down")
        return
    state = load()
    stop_services(state)
    for node in state.get("nodes", []):
        stop_sshd(node)
        kill_namespace_processes(node["namespace"])
        sh("ip", "netns", "del", node["namespace"], check=False)  # takes its veth pairs with it
    for bridge in state.get("bridges", []):
        sh("ip", "link", "del", bridge, check=False)
    restore_neighbour_limits(state)
    for user in state.get("users", []):
        sh("userdel", "--remove", user, check=False)
    if state.get("sudoers") and os.path.exists(state["sudoers"]):
        os.remove(state["sudoers"])
    for directory in reversed(state.get("created_dirs", [])):
        try:
            os.rmdir(directory)  # only if still empty: never remove what someone else put there
        except OSError:
            pass
    shutil.rmtree(LAB, ignore_errors=True)
    if os.path.isdir(HOLD):
        try:
            os.rmdir(HOLD)
        except OSError:
            pass
    sweep()
    if not quiet:
        print(f"lab: {len(state.get('nodes', []))} nodes down")


# ------------------------------------------------------------------------------ status, faults

def find(state, name):
    for node in state["nodes"]:
        if node["name"] == name:
            return node
    raise SystemExit(f"lab: no node {name}; nodes are lab1..lab{len(state['nodes'])}")


def status():
    state = load()
    for node in state["nodes"]:
        alive = is_ours(node.get("sshd_pid", 0), node["sshd_config"])
        link = sh("ip", "-o", "link", "show", node["links"][0], check=False).stdout
        print(f"{node['name']:8} {node['address']:15} sshd {'up' if alive else 'down':5} "
              f"link {'up' if 'state UP' in link or 'LOWER_UP' in link else 'down'}")


def fault(name, action, argument=None):
    require_root()
    state = load()
    node = find(state, name)
    if action in ("link-down", "link-up"):
        sh("ip", "link", "set", node["links"][0], "down" if action == "link-down" else "up")
    elif action == "sshd-stop":
        stop_sshd(node)
    elif action == "sshd-start":
        if not is_ours(node.get("sshd_pid", 0), node["sshd_config"]):
            node["sshd_pid"] = launch_sshd(node)
            save(state)
            wait_for_port(node["address"], 22, name)
    elif action == "latency":
        result = sh("ip", "-n", node["namespace"], "qdisc", "replace", "dev", "eth0", "root", "netem",
                    "delay", f"{int(argument)}ms", check=False)
        if result.returncode != 0:
            raise SystemExit(f"lab: cannot add latency: tc netem failed ({result.stderr.strip()}); "
                             "this kernel may lack sch_netem")
    elif action == "latency-off":
        sh("ip", "-n", node["namespace"], "qdisc", "del", "dev", "eth0", "root", check=False)
    else:
        raise SystemExit(f"lab: unknown fault {action}")


def kube_fault(name, mode, args):
    """Flips a fault switch of the API double for the cluster that node NAME belongs to."""
    state = load()
    find(state, name)
    request = {"node": name, "mode": mode}
    if mode == "status":
        request.update(code=int(args[0]), count=int(args[1]) if len(args) > 1 else 1)
        if len(args) > 2:
            request.update(retryAfter=int(args[2]))
    elif mode == "slow":
        request.update(seconds=float(args[0]), count=int(args[1]) if len(args) > 1 else 1)
    elif mode == "drop":
        request.update(count=int(args[0]) if args else 1)
    elif mode == "upload-token-ttl":
        request.update(seconds=float(args[0]))
    elif mode in ("upload-drop", "console-drop"):
        request.update(bytes=int(args[0]))
    elif mode not in ("legacy-discovery", "clear"):
        raise SystemExit(f"lab: unknown kube fault {mode}")
    status, answer = kube_lab(state, "/_lab/faults", request)
    if status != 200:
        raise SystemExit(f"lab: kube fault refused: {answer}")


def kube_lab(state, path, request, method="POST"):
    """POST (or GET) to one of the API double's /_lab/ endpoints: (status, text)."""
    connection = http.client.HTTPConnection("localhost")
    connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.sock.connect(state["kube_socket"])
    connection.request(method, path, body=json.dumps(request), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read().decode()


def lifecycle(names, since):
    """The RKE2 doubles' start, ready and stop records of these nodes since a time, one JSON line each."""
    state = load()
    status, answer = kube_lab(state, "/_lab/lifecycle", {"nodes": names, "since": since})
    if status != 200:
        raise SystemExit(f"lab: lifecycle: {answer}")
    for event in json.loads(answer)["events"]:
        print(json.dumps(event))


def boot(name, reset=False):
    """Runs doubles/boot inside the node (its network, mount and UTS namespaces), without SSH: a node
    whose only interface moves to a bridge is unreachable while it boots."""
    require_root()
    node = find(load(), name)
    if not is_ours(node.get("sshd_pid", 0), node["sshd_config"]):
        raise SystemExit(f"lab: {name}'s sshd is not running")
    # sshd runs under `unshare ... sh -c ... exec sshd`: the pid recorded is that chain's, whose namespaces sshd shares.
    result = subprocess.run(["nsenter", "-t", str(node["sshd_pid"]), "-m", "-u", "-n", "/usr/local/lib/parvester-lab/boot",
                             f"{node['address']}/16", f"{node['address6']}/64", *(["reset"] if reset else [])], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"lab: boot of {name} failed: {result.stderr.strip()}")
    sys.stdout.write(result.stdout)


def shell(name, command):
    """What a person does to look around a node: ssh in as root with the lab's key and known_hosts."""
    state = load()
    node = find(state, name)
    os.execvp("ssh", ["ssh", "-i", state["client_keys"]["ed25519"], "-o", f"UserKnownHostsFile={state['known_hosts']}",
                      "-o", "StrictHostKeyChecking=yes", f"root@{node['address']}", *command])


def main(argv):
    if len(argv) >= 2 and argv[0] == "up":
        try:
            up(int(argv[1]))
        except BaseException:
            down(quiet=True)  # never leave half a lab: namespaces, services, users
            raise
    elif argv[:1] == ["down"]:
        down()
    elif argv[:1] == ["status"]:
        status()
    elif len(argv) >= 2 and argv[0] == "shell":
        shell(argv[1], argv[2:])
    elif len(argv) >= 3 and argv[0] == "kube-fault":
        kube_fault(argv[1], argv[2], argv[3:])
    elif len(argv) in (2, 3) and argv[0] == "boot":
        boot(argv[1], reset=argv[2:] == ["reset"])
    elif argv[:1] == ["streams"]:
        print(kube_lab(load(), "/_lab/streams", {}, method="GET")[1])
    elif len(argv) >= 3 and argv[0] == "lifecycle":
        lifecycle(argv[2:], float(argv[1]))
    elif len(argv) >= 3 and argv[0] == "fault":
        fault(argv[1], argv[2], argv[3] if len(argv) > 3 else None)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
