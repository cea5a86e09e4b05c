#!/bin/sh
# Lab double of rke2-killall.sh. Like the real one it stops the rke2 services and with them every RKE2
# process (the real one also kills containerd shims and removes the CNI links), and leaves the
# services enabled: only rke2-uninstall.sh removes them.
systemctl stop rke2-server 2>/dev/null || true
systemctl stop rke2-agent 2>/dev/null || true
exit 0
