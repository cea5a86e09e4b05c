#!/bin/sh
# Lab double of RKE2's install script, airgap path only (the lab has no downloads): installs the
# artifacts in INSTALL_RKE2_ARTIFACT_PATH after checking their sha256, as the real script does.
set -e
info() { echo "[INFO]  $*"; }
fatal() { echo "[ERROR] $*" >&2; exit 1; }

[ -n "${INSTALL_RKE2_ARTIFACT_PATH}" ] || fatal "this lab install script installs from INSTALL_RKE2_ARTIFACT_PATH only"
ARTIFACTS="${INSTALL_RKE2_ARTIFACT_PATH}"
PREFIX="${INSTALL_RKE2_TAR_PREFIX:-/usr/local}"
TYPE="${INSTALL_RKE2_TYPE:-server}"
case "${TYPE}" in server|agent) ;; *) fatal "INSTALL_RKE2_TYPE must be server or agent, got ${TYPE}" ;; esac
[ "$(id -u)" = 0 ] || fatal "you need to be root to perform this install"

TARBALL="${ARTIFACTS}/rke2.linux-amd64.tar.gz"
SUMS="${ARTIFACTS}/sha256sum-amd64.txt"
[ -f "${TARBALL}" ] || fatal "${TARBALL} does not exist"
[ -f "${SUMS}" ] || fatal "${SUMS} does not exist"

info "staging local checksums from ${SUMS}"
expected=$(grep "rke2.linux-amd64.tar.gz" "${SUMS}" | awk '{print $1}')
actual=$(sha256sum "${TARBALL}" | awk '{print $1}')
[ "${expected}" = "${actual}" ] || fatal "download sha256 does not match ${expected}, got ${actual}"

version=$(tar -xzOf "${TARBALL}" share/rke2/version)
if [ -n "${INSTALL_RKE2_VERSION}" ] && [ "${INSTALL_RKE2_VERSION}" != "${version}" ]; then
    fatal "INSTALL_RKE2_VERSION=${INSTALL_RKE2_VERSION} but the artifacts in ${ARTIFACTS} are ${version}"
fi

info "installing tarball to ${PREFIX}"
mkdir -p "${PREFIX}"
tar -xzf "${TARBALL}" -C "${PREFIX}"
for images in "${ARTIFACTS}"/rke2-images*.tar*; do
    [ -f "${images}" ] || continue
    mkdir -p /var/lib/rancher/rke2/agent/images
    cp -f "${images}" /var/lib/rancher/rke2/agent/images/
done
info "rke2 ${version} installed (${TYPE})"
