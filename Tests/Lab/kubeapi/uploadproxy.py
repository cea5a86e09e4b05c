"""CDI's upload path, as `virtctl image-upload` meets it:

- the aggregated API `upload.cdi.kubevirt.io/v1beta1` takes an UploadTokenRequest for a PVC and answers
  with a token (valid 5 minutes, like CDI's; a fault switch shortens it);
- the upload proxy (HTTPS on the lab's management address, its certificate signed by the lab's "CDI
  upload proxy signer", whose CA CDI publishes in the ConfigMap cdi/cdi-uploadproxy-signer-bundle)
  takes `POST /v1beta1/upload` with `Authorization: Bearer TOKEN` and the image as the body, streamed:
  it is read in chunks and hashed, never held whole. A complete body makes the DataVolume Succeeded and
  records size and sha256 on its PVC (annotations lab.parvester.test/uploaded-*), so tests can check
  what arrived. A wrong or expired token is 401; a DataVolume not yet UploadReady is 503.
- `PUT /lab/sink` on the same server reads and hashes a body as an upload does, then discards it:
  the benchmark's plain-PUT baseline.
"""
import hashlib
import http.server
import json
import secrets
import socketserver
import ssl
import threading
import time

TOKEN_SECONDS = 300.0
GROUP, VERSION = "upload.cdi.kubevirt.io", "v1beta1"
TOKENS = {}  # token -> {"cluster", "namespace", "pvc", "expires"}
TOKENS_LOCK = threading.Lock()
SIGNER_BUNDLE = {"ca": ""}  # the signer CA's PEM, published by the CDI double
URL = {"value": ""}


def issue_token(state, faults, namespace, body):
    """POST .../namespaces/NS/uploadtokenrequests: a token for spec.pvcName."""
    pvc = ((body or {}).get("spec") or {}).get("pvcName")
    if not pvc:
        from .store import StatusError
        raise StatusError(422, "Invalid", "UploadTokenRequest.upload.cdi.kubevirt.io is invalid: spec.pvcName: Required value")
    token = secrets.token_urlsafe(32)
    ttl = faults.upload_token_ttl if faults.upload_token_ttl is not None else TOKEN_SECONDS
    with TOKENS_LOCK:
        TOKENS[token] = {"cluster": state.id, "namespace": namespace, "pvc": pvc, "expires": time.time() + ttl}
    meta = dict((body or {}).get("metadata") or {})
    meta["namespace"] = namespace
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "UploadTokenRequest", "metadata": meta,
            "spec": {"pvcName": pvc}, "status": {"token": token}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    clusters = None  # callable: cluster id -> Cluster
    faults = None    # callable: cluster id -> Faults

    def log_message(self, *args):
        pass

    def reply(self, code, text):
        data = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def consume(self, on_chunk):
        """Reads the body in chunks; False when the client went away before sending all of it."""
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return False
            on_chunk(chunk)
            remaining -= len(chunk)
        return True

    def check_grant(self):
        """The upload's token and DataVolume, or None after answering why not (401, 503)."""
        header = self.headers.get("Authorization") or ""
        token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        with TOKENS_LOCK:
            grant = TOKENS.get(token)
        if grant is None or grant["expires"] < time.time():
            self.close_connection = True
            self.reply(401, "authentication failed: the upload token is invalid or has expired")
            return None
        state = self.clusters(grant["cluster"])
        with state.lock:
            dv = state.objects.get(("cdi.kubevirt.io", "datavolumes"), {}).get((grant["namespace"], grant["pvc"]))
            phase = ((dv or {}).get("status") or {}).get("phase")
        if phase != "UploadReady":
            self.close_connection = True
            self.reply(503, f"upload server for {grant['namespace']}/{grant['pvc']} is not ready (DataVolume phase {phase})")
            return None
        return grant

    def handle_expect_100(self):
        """Like Go's server behind the real proxy: a refusal goes out before the body is asked for."""
        self.grant = None
        if self.path.split("?")[0] in ("/v1beta1/upload", "/v1beta1/upload-async"):
            self.grant = self.check_grant()
            if self.grant is None:
                return False
        return super().handle_expect_100()

    def do_PUT(self):
        if self.path == "/lab/sink":
            # The server's work of an upload (read and hash every chunk), so that a comparison with an
            # upload measures the clients, not what the server does with the bytes.
            digest, total = hashlib.sha256(), [0]
            self.consume(lambda chunk: (digest.update(chunk), total.__setitem__(0, total[0] + len(chunk))))
            return self.reply(200, f"{total[0]} bytes, sha256 {digest.hexdigest()}")
        self.do_POST()

    def do_POST(self):
        if self.path.split("?")[0] not in ("/v1beta1/upload", "/v1beta1/upload-async"):
            return self.reply(404, "no such endpoint on the upload proxy")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.reply(411, "the lab upload proxy needs a Content-Length")
        grant = getattr(self, "grant", None) or self.check_grant()
        if grant is None:
            return
        self.grant = None
        state, faults = self.clusters(grant["cluster"]), self.faults(grant["cluster"])
        digest, size = hashlib.sha256(), [0]
        drop_after = faults.take_upload_drop()

        def take(chunk):
            digest.update(chunk)
            size[0] += len(chunk)
            if drop_after is not None and size[0] >= drop_after:
                raise ConnectionAbortedError("lab fault: upload connection dropped")

        try:
            complete = self.consume(take)
        except ConnectionAbortedError:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if not complete:
            self.close_connection = True
            return
        with state.lock:
            complete_upload(state, grant["namespace"], grant["pvc"], size[0], digest.hexdigest())
        self.reply(200, "")


def complete_upload(state, namespace, name, size, sha256):
    """The upload pod finished: the PVC holds the image, the DataVolume is Succeeded."""
    dvs = state.registry.find("cdi.kubevirt.io", "v1beta1", "datavolumes")
    pvcs = state.registry.find("", "v1", "persistentvolumeclaims")
    dv = state.objects.get(dvs.key, {}).get((namespace, name))
    pvc = state.objects.get(pvcs.key, {}).get((namespace, name))
    if pvc is not None:
        annotations = dict(pvc["metadata"].get("annotations") or {})
        annotations.update({"lab.parvester.test/uploaded-bytes": str(size), "lab.parvester.test/uploaded-sha256": sha256})
        updated = json.loads(json.dumps(pvc))
        updated["metadata"]["annotations"] = annotations
        state.put_system(pvcs, updated, manager="cdi-uploadserver")
    if dv is not None:
        status = dict(dv.get("status") or {})
        status.update({"phase": "Succeeded", "progress": "100.0%"})
        state.set_status(dvs, dv, status)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def serve(address, port, cert, key, ca, clusters, faults):
    """Starts the upload proxy; URL["value"] is what CDIConfig's status.uploadProxyURL shows."""
    Handler.clusters, Handler.faults = staticmethod(clusters), staticmethod(faults)
    server = Server((address, port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with open(ca) as f:
        SIGNER_BUNDLE["ca"] = f.read()
    URL["value"] = f"https://{address}:{port}"
