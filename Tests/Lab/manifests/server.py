#!/usr/bin/env python3
"""The lab's manifest and image server, on the management network (HTTP :8080, HTTPS :8443).

Serves the components' real release files (../shared/upstream-manifests beside the checkout) at the
paths of the real release URLs, the host name becoming the first path element, for any version in the
path. KubeVirt's and CDI's release files are assembled as their releases assemble them: the committed
parts from ../shared, the generated parts (the virt-operator Deployment; cdi's Namespace, operator RBAC
and Deployment) from release-generated/ here:

  /github.com/kubevirt/kubevirt/releases/download/VERSION/kubevirt-operator.yaml    (and kubevirt-cr.yaml)
  /github.com/kubevirt/containerized-data-importer/releases/download/VERSION/cdi-operator.yaml  (and cdi-cr.yaml)
  /raw.githubusercontent.com/rancher/local-path-provisioner/VERSION/deploy/local-path-storage.yaml
  /raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/VERSION/deployments/multus-daemonset.yml

Like GitHub, release downloads under /github.com/ answer with a redirect (to /objects.githubusercontent.com/),
so a client that does not follow redirects fails here too. /images/lab-disk.qcow2 is a small disk image
for CDI imports. Local Path Provisioner's file for a version ending in `-lab.without-role` lacks the
namespaced Role and RoleBinding (a lab-only release, for tests of a version bump that drops objects).
RKE2's release downloads are served for the lab's versions only (anything else is 404):

  /github.com/rancher/rke2/releases/download/VERSION/FILE   (rke2.linux-amd64.tar.gz, sha256sum-amd64.txt, ...)
  /get.rke2.io   the lab's install script, which downloads from the path above when run without
                 INSTALL_RKE2_ARTIFACT_PATH (`curl -sfL URL | INSTALL_RKE2_VERSION=... sh -` on a node)
 Every request is logged to the access log,
which tests read. Tests run side by side, so a mirror URL may start with /_/TAG/: the server drops
that prefix for routing (keeping it in redirects) and the access log shows it, so a test counts only
its own requests.

  server.py ADDRESS HTTP_PORT HTTPS_PORT CERT KEY ACCESS_LOG VERSION=ARTIFACTS_DIR[,VERSION=ARTIFACTS_DIR...]
"""
import hashlib
import http.server
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse

HERE = __file__.rsplit("/", 1)[0]
UPSTREAM = os.environ.get("PARVESTER_UPSTREAM_MANIFESTS") or \
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/upstream-manifests"))
ROUTES = [
    (r"/github\.com/kubevirt/kubevirt/releases/download/(v[\w.+-]+)/(kubevirt-operator\.yaml|kubevirt-cr\.yaml)", True),
    (r"/github\.com/kubevirt/containerized-data-importer/releases/download/(v[\w.+-]+)/(cdi-operator\.yaml|cdi-cr\.yaml)", True),
    (r"/raw\.githubusercontent\.com/rancher/local-path-provisioner/(v[\w.+-]+)/deploy/(local-path-storage\.yaml)", False),
    (r"/raw\.githubusercontent\.com/k8snetworkplumbingwg/multus-cni/(v[\w.+-]+)/deployments/(multus-daemonset\.yml)", False),
]
REDIRECTED = "/objects.githubusercontent.com"
IMAGE_PATH = "/images/lab-disk.qcow2"
ARTIFACTS = ("rke2.linux-amd64.tar.gz", "rke2-images.linux-amd64.tar.zst", "sha256sum-amd64.txt")
RKE2_RELEASES = "/github.com/rancher/rke2/releases/download"
LOCK = threading.Lock()


def disk_image(size=4 << 20):
    """A deterministic stand-in disk: a qcow2 magic, then a pattern (CDI's importer is simulated)."""
    block = hashlib.sha256(b"parvester lab disk").digest() * 2048
    data = (b"QFI\xfb\x00\x00\x00\x03" + block)[:len(block)]
    return (data * (size // len(data) + 1))[:size]


IMAGE = disk_image()


def upstream(name):
    with open(os.path.join(UPSTREAM, name)) as f:
        return f.read()


def documents(text):
    return [d for d in re.split(r"^---[ \t]*$", text, flags=re.M) if d.strip() and not all(
        line.startswith("#") or not line.strip() for line in d.splitlines())]


def release_file(name, version):
    """A release file's text, as the component's release publishes it."""
    generated = lambda file: open(f"{HERE}/release-generated/{file}").read().replace("@VERSION@", version)
    if name == "kubevirt-operator.yaml":
        return upstream("kubevirt-operator-no-deployment.yaml").rstrip("\n") + "\n---\n" + generated("virt-operator-deployment.yaml")
    if name == "cdi-operator.yaml":
        crd = next(d for d in documents(upstream("cdi-crds.yaml")) if re.search(r"^  name: cdis\.cdi\.kubevirt\.io$", d, flags=re.M))
        namespace, rest = documents(generated("cdi-operator-parts.yaml"))[0], documents(generated("cdi-operator-parts.yaml"))[1:]
        return "---\n".join(part.strip("\n") + "\n" for part in [namespace, crd] + rest)
    if name == "local-path-storage.yaml" and version.endswith(WITHOUT_ROLE):
        # A lab-only release that no longer has the namespaced Role and RoleBinding: what a release that
        # drops objects looks like, for tests of a component's version bump.
        kept = [d for d in documents(upstream(name)) if not re.search(r"^kind: (Role|RoleBinding)$", d, flags=re.M)]
        return "---\n".join(d.strip("\n") + "\n" for d in kept)
    return upstream(name)


WITHOUT_ROLE = "-lab.without-role"


def manifest(path):
    for pattern, redirected in ROUTES:
        match = re.fullmatch(pattern, path)
        if match:
            version, name = match.groups()
            return release_file(name, version).encode(), redirected
    return None, False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    access_log = None
    releases = {}  # RKE2 version -> its artifacts directory

    def log_message(self, *args):
        pass

    def record(self, code):
        with LOCK, open(self.access_log, "a") as f:
            f.write(f"{time.time():.3f} {self.command} {self.path} {code}\n")

    def send(self, code, body, content_type="application/octet-stream", headers=()):
        self.record(code)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        tag = re.match(r"/_/[\w.-]+(?=/)", path)
        prefix = tag.group(0) if tag else ""
        path = path[len(prefix):]
        if path == IMAGE_PATH:
            return self.send(200, IMAGE)
        if path == "/get.rke2.io":
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            host = f"{scheme}://{self.server.server_address[0]}:{self.server.server_address[1]}"
            script = open(f"{next(iter(self.releases.values()))}/install.sh").read().replace("@RELEASES@", host + prefix + RKE2_RELEASES)
            return self.send(200, script.encode(), "text/plain")
        release = self.rke2_release(path)
        if release:
            return self.send(200, release) if path.startswith(REDIRECTED) else \
                self.send(302, b"", "text/html", [("Location", prefix + REDIRECTED + path)])
        if path.startswith(REDIRECTED + "/"):
            body, _ = manifest(path[len(REDIRECTED):])
            if body is not None:
                return self.send(200, body, "application/octet-stream")
        body, redirected = manifest(path)
        if body is None:
            return self.send(404, b"Not Found\n", "text/plain")
        if redirected:
            return self.send(302, b"", "text/html", [("Location", prefix + REDIRECTED + path)])
        return self.send(200, body, "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def rke2_release(self, path):
        """The bytes of an RKE2 release download of one of the lab's versions (GitHub redirects these too)."""
        path = urllib.parse.unquote(path[len(REDIRECTED):] if path.startswith(REDIRECTED) else path)
        match = re.fullmatch(re.escape(RKE2_RELEASES) + r"/([^/]+)/([^/]+)", path)
        if not match or match.group(1) not in self.releases or match.group(2) not in ARTIFACTS:
            return None
        with open(f"{self.releases[match.group(1)]}/{match.group(2)}", "rb") as f:
            return f.read()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # many nodes download at once


def main(argv):
    address, http_port, https_port, cert, key, access_log, releases = argv
    if not os.path.isdir(UPSTREAM):
        raise SystemExit(f"manifests: the components' release files are not at {UPSTREAM} (the project's shared/ folder, "
                         "beside the checkout; or set PARVESTER_UPSTREAM_MANIFESTS)")
    Handler.access_log = access_log
    Handler.releases = dict(pair.split("=", 1) for pair in releases.split(","))
    plain = Server((address, int(http_port)), Handler)
    secure = Server((address, int(https_port)), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    threading.Thread(target=secure.serve_forever, daemon=True).start()
    print(f"manifests: http://{address}:{http_port}/ and https://{address}:{https_port}/", flush=True)
    plain.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
