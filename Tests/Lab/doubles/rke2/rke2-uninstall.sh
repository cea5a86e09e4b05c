#!/bin/sh
# Lab double of rke2-uninstall.sh: stops the services and removes what the install and the services wrote.
set -e
systemctl disable --now rke2-server 2>/dev/null || true
systemctl disable --now rke2-agent 2>/dev/null || true
rm -rf /etc/rancher/rke2 /var/lib/rancher/rke2
rm -f /usr/local/lib/systemd/system/rke2-server.service /usr/local/lib/systemd/system/rke2-agent.service \
      /usr/local/lib/systemd/system/rke2-server.env /usr/local/lib/systemd/system/rke2-agent.env \
      /usr/local/share/rke2/version /usr/local/bin/rke2 /usr/local/bin/rke2-killall.sh /usr/local/bin/rke2-uninstall.sh
