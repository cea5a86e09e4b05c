#!/bin/sh
# Lab double of rke2-killall.sh: stops whichever rke2 service runs.
systemctl stop rke2-server 2>/dev/null || true
systemctl stop rke2-agent 2>/dev/null || true
