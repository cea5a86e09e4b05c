#!/bin/sh
# Lab double of RKE2's install script. Like the real one (https://get.rke2.io), it installs from
# INSTALL_RKE2_ARTIFACT_PATH when that is set (airgap), else it downloads the release's tarball and
# checksums for INSTALL_RKE2_VERSION first. The lab has no internet: its manifest server serves this
# script at /get.rke2.io with RELEASES pointing at its own copy of the release downloads.
set -e
info() { echo "[INFO]  $*"; }
fatal() { echo "[ERROR] $*" >&2; exit 1; }

RELEASES="@RELEASES@"
if [ -n "${INSTALL_RKE2_ARTIFACT_PATH}" ]; then
    ARTIFACTS="${INSTALL_RKE2_ARTIFACT_PATH}"
else
    case "${RELEASES}" in @*|"") fatal "no INSTALL_RKE2_ARTIFACT_PATH, and this copy of the script has no download URL" ;; esac
    [ -n "${INSTALL_RKE2_VERSION}" ] || fatal "INSTALL_RKE2_VERSION is required (the lab has no release channel)"
    ARTIFACTS=$(mktemp -d)
    trap 'rm -rf "${ARTIFACTS}"' EXIT
    # GitHub's release paths carry the version's '+' as %2B.
    base="${RELEASES}/$(echo "${INSTALL_RKE2_VERSION}" | sed -e 's/+/%2B/g')"
    for f in sha256sum-amd64.txt rke2.linux-amd64.tar.gz; do
        info "downloading ${base}/${f}"
        curl -sfL -o "${ARTIFACTS}/${f}" "${base}/${f}" || fatal "download of ${base}/${f} failed"
    done
fi
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
