#!/bin/sh
# Lab double of rke2-uninstall.sh. Like the real one (bundle/bin/rke2-uninstall.sh) it runs
# rke2-killall.sh, disables and removes the units, and removes RKE2's configuration and data
# (/etc/rancher/rke2, /var/lib/rancher/rke2 with its etcd data, /var/lib/kubelet), the CNI state
# (/etc/cni, /var/lib/cni, /opt/cni/bin) and its own binaries and scripts, itself last.
set -e
[ "$(id -u)" = 0 ] || { echo "$(basename "$0"): must be run as root" >&2; exit 1; }
/usr/local/bin/rke2-killall.sh || true
systemctl disable rke2-server 2>/dev/null || true
systemctl disable rke2-agent 2>/dev/null || true
# The lab's nodes have some of these as mount points of their own: those stay, empty.
for d in /etc/rancher/rke2 /var/lib/rancher/rke2 /var/lib/kubelet /etc/cni /var/lib/cni /opt/cni/bin; do
    [ -e "$d" ] || continue
    find "$d" -mindepth 1 -delete
    rmdir "$d" 2>/dev/null || true
done
rm -f /usr/local/lib/systemd/system/rke2-server.service /usr/local/lib/systemd/system/rke2-agent.service \
      /usr/local/lib/systemd/system/rke2-server.env /usr/local/lib/systemd/system/rke2-agent.env \
      /usr/local/share/rke2/version /usr/local/bin/rke2 /usr/local/bin/rke2-killall.sh
systemctl daemon-reload 2>/dev/null || true
rm -f /usr/local/bin/rke2-uninstall.sh
