#!/usr/bin/python3
"""Network-stack doubles for lab nodes, which have no network daemon: each reads its real configuration
files and applies them with `ip`, as the real tool would leave the links.

  netdouble.py netplan apply          netplan: /etc/netplan/*.yaml, merged in name order (later files
                                      override earlier keys; netplan(5)), ethernets and bridges
  netdouble.py ifup [-a|IFACE...]     ifupdown: /etc/network/interfaces and its `source` lines;
  netdouble.py ifdown [--force] IFACE   inet/inet6 static and manual, bridge_ports (bridge-utils' hook)
  netdouble.py networkctl reload|reconfigure IFACE...
                                      systemd-networkd: /etc/systemd/network/*.netdev and *.network
  netdouble.py networkd-boot          what systemd-networkd does at boot: every link again

Copied from the real tools: networkd configures a link from the first .network file (in name order)
whose [Match] Name= matches it, and takes a port out of a bridge when that file names no Bridge= (the
kernel logs `br0: port 1(eth1) entered disabled state`); a link no file matches is left alone. netplan
and ifupdown set exactly the addresses their files give. None of them does DHCP here: the lab has no DHCP
server, so a DHCP configuration fails loudly.

Fault switch: /var/lib/parvester/lab-network-fault makes the next apply of a configuration that puts an
address on a bridge leave the bridge without it (a change that cuts the node off); the file is consumed.
"""
import fnmatch
import glob
import os
import subprocess
import sys

FAULT = "/var/lib/parvester/lab-network-fault"


def ip(*args, check=True):
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def links():
    return sorted(n for n in os.listdir("/sys/class/net") if n != "lo")


def exists(name):
    return os.path.exists(f"/sys/class/net/{name}")


def master(name):
    path = f"/sys/class/net/{name}/master"
    return os.path.basename(os.readlink(path)) if os.path.islink(path) else None


def fault_taken():
    if os.path.exists(FAULT):
        os.remove(FAULT)
        return True
    return False


def ensure_bridge(name, mac=None):
    if not exists(name):
        ip("link", "add", name, "type", "bridge")
    if mac:
        ip("link", "set", name, "address", mac)
    ip("link", "set", name, "up")


def set_addresses(name, addresses, gateways=(), cut_off=False):
    """Exactly these addresses (CIDR) on the link, and default routes through the gateways."""
    ip("addr", "flush", "dev", name, "scope", "global", check=False)
    if cut_off:
        return
    for address in addresses:
        ip("addr", "add", address, "dev", name, *(["nodad"] if ":" in address else []))
    ip("link", "set", name, "up")
    for gateway in gateways:
        ip(*(["-6"] if ":" in gateway else []), "route", "replace", "default", "via", gateway, "dev", name, check=False)


def enslave(port, bridge):
    if master(port) != bridge:
        ip("link", "set", port, "master", bridge)
    ip("addr", "flush", "dev", port, "scope", "global", check=False)
    ip("link", "set", port, "up")


# ----------------------------------------------------------------------------------------- netplan

def netplan_config():
    import yaml
    merged = {}

    def merge(a, b):
        for key, value in b.items():
            a[key] = merge(a.get(key, {}), value) if isinstance(value, dict) and isinstance(a.get(key), dict) else value
        return a
    for path in sorted(glob.glob("/etc/netplan/*.yaml") + glob.glob("/etc/netplan/*.yml"), key=os.path.basename):
        merge(merged, yaml.safe_load(open(path)) or {})
    return merged.get("network") or {}


def addresses_of(entry):
    if entry.get("dhcp4") or entry.get("dhcp6"):
        raise SystemExit("netplan (lab double): DHCP is not available in the lab")
    gateways = [entry[k] for k in ("gateway4", "gateway6") if entry.get(k)]
    gateways += [r["via"] for r in entry.get("routes") or [] if r.get("to") in ("default", "0.0.0.0/0", "::/0")]
    return [str(a) for a in entry.get("addresses") or []], gateways


def netplan(argv):
    if argv[:1] != ["apply"]:
        raise SystemExit("netplan (lab double): only `netplan apply`")
    network = netplan_config()
    ethernets, bridges = network.get("ethernets") or {}, network.get("bridges") or {}
    ports = {p: b for b, entry in bridges.items() for p in (entry or {}).get("interfaces") or []}
    cut = any((entry or {}).get("addresses") for entry in bridges.values()) and fault_taken()
    for name, entry in ethernets.items():
        if not exists(name):
            continue
        if name in ports:
            continue
        if master(name):  # no longer a port of any bridge netplan defines
            ip("link", "set", name, "nomaster")
        set_addresses(name, *addresses_of(entry or {}))
    for name, entry in bridges.items():
        entry = entry or {}
        ensure_bridge(name, entry.get("macaddress"))
        for port in entry.get("interfaces") or []:
            if exists(port):
                enslave(port, name)
        set_addresses(name, *addresses_of(entry), cut_off=cut)


# ---------------------------------------------------------------------------------------- ifupdown

def ifupdown_stanzas():
    """(kind, words, options) in file order, following `source` lines."""
    stanzas = []

    def read(path):
        current = None
        for raw in open(path).read().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            words = line.split("#")[0].split()
            if words[0] == "source":
                for included in sorted(glob.glob(words[1])):
                    if os.path.isfile(included):
                        read(included)
                current = None
            elif words[0] in ("auto", "allow-hotplug", "iface", "mapping"):
                current = [words[0], words[1:], []]
                stanzas.append(current)
            elif current is not None and current[0] == "iface":
                current[2].append((words[0], " ".join(words[1:])))
    read("/etc/network/interfaces")
    return stanzas


def ifup_one(name, stanzas):
    found = [s for s in stanzas if s[0] == "iface" and s[1][0] == name]
    if not found:
        raise SystemExit(f"ifup (lab double): unknown interface {name}")
    addresses, gateways, bridge_ports, mac = [], [], None, None
    for _, words, options in found:
        family, method = words[1], words[2]
        opts = dict(options)
        if method in ("dhcp", "auto"):
            raise SystemExit("ifup (lab double): DHCP is not available in the lab")
        if method == "static" and "address" in opts:
            address = opts["address"]
            if "/" not in address and "netmask" in opts:
                mask = opts["netmask"]
                address += "/" + (mask if mask.isdigit() else str(sum(bin(int(o)).count("1") for o in mask.split("."))))
            addresses.append(address)
        if "gateway" in opts:
            gateways.append(opts["gateway"])
        if "bridge_ports" in opts:
            bridge_ports = [p for p in opts["bridge_ports"].split() if p != "none"]
        if "hwaddress" in opts:
            mac = opts["hwaddress"].split()[-1]
    if bridge_ports is not None:
        ensure_bridge(name, mac)
        for port in bridge_ports:
            if exists(port):
                enslave(port, name)
        set_addresses(name, addresses, gateways, cut_off=bool(addresses) and fault_taken())
    elif exists(name):
        set_addresses(name, addresses, gateways)


def ifup(argv):
    stanzas = ifupdown_stanzas()
    names = [a for a in argv if not a.startswith("-")]
    if "-a" in argv:
        names = [n for s in stanzas if s[0] == "auto" for n in s[1]]
    for name in names:
        if name != "lo":
            ifup_one(name, stanzas)


def ifdown(argv):
    for name in [a for a in argv if not a.startswith("-")]:
        if not exists(name):
            continue
        ip("addr", "flush", "dev", name, "scope", "global", check=False)
        if os.path.isdir(f"/sys/class/net/{name}/bridge"):
            ip("link", "del", name, check=False)


# ---------------------------------------------------------------------------------- systemd-networkd

def ini(path):
    sections = []
    for raw in open(path).read().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1][1].append((key.strip(), value.strip()))
    return sections


def values(sections, section, key):
    return [v for name, entries in sections if name == section for k, value in entries if k == key for v in value.split()]


def networkd_running():
    return subprocess.run(["systemctl", "is-active", "--quiet", "systemd-networkd"]).returncode == 0


def networkd_apply(names):
    files = sorted(glob.glob("/etc/systemd/network/*.netdev"), key=os.path.basename)
    for path in files:
        sections = ini(path)
        if values(sections, "NetDev", "Kind") == ["bridge"]:
            for name in values(sections, "NetDev", "Name"):
                ensure_bridge(name, (values(sections, "NetDev", "MACAddress") or [None])[0])
    networks = [(p, ini(p)) for p in sorted(glob.glob("/etc/systemd/network/*.network"), key=os.path.basename)]
    for name in names:
        if not exists(name):
            continue
        match = next((s for _, s in networks if any(fnmatch.fnmatch(name, g) for g in values(s, "Match", "Name"))), None)
        if match is None:
            continue  # unmanaged
        bridge = (values(match, "Network", "Bridge") or [None])[0]
        if bridge:
            ensure_bridge(bridge) if not exists(bridge) else None
            enslave(name, bridge)
            continue
        if master(name):
            ip("link", "set", name, "nomaster")  # br0: port 1(eth1) entered disabled state
        if values(match, "Network", "DHCP") and values(match, "Network", "DHCP")[0] not in ("no", "false"):
            raise SystemExit("systemd-networkd (lab double): DHCP is not available in the lab")
        addresses = values(match, "Network", "Address") + values(match, "Address", "Address")
        cut = bool(addresses) and os.path.isdir(f"/sys/class/net/{name}/bridge") and fault_taken()
        set_addresses(name, addresses, values(match, "Network", "Gateway") + values(match, "Route", "Gateway"), cut_off=cut)


def networkctl(argv):
    if not networkd_running():
        raise SystemExit("Failed to connect to systemd-networkd: it is not running (lab double)")
    if argv[:1] == ["reload"]:
        return  # files are read at each reconfigure
    if argv[:1] == ["reconfigure"]:
        networkd_apply(argv[1:])
        return
    raise SystemExit("networkctl (lab double): only reload and reconfigure")


def main(argv):
    tool, rest = argv[0], argv[1:]
    if tool == "netplan":
        netplan(rest)
    elif tool == "ifup":
        ifup(rest)
    elif tool == "ifdown":
        ifdown(rest)
    elif tool == "networkctl":
        networkctl(rest)
    elif tool == "networkd-boot":
        if networkd_running():
            networkd_apply(links())
    else:
        raise SystemExit(f"netdouble: unknown tool {tool}")


if __name__ == "__main__":
    main(sys.argv[1:])
