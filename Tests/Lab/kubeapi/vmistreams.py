"""KubeVirt's streaming VMI subresources, served as virt-api serves them:

  GET /apis/subresources.kubevirt.io/v1/namespaces/NS/virtualmachineinstances/NAME/console
  GET .../vnc                 (both upgraded to a WebSocket, subprotocol plain.kubevirt.io, raw bytes in
                               binary messages, as virtctl console / virtctl vnc use them)
  GET .../vnc/screenshot      (a PNG, as `virtctl vnc screenshot` fetches it)

What it copies from virt-api: a VMI that does not exist answers 404; one that is not Running answers 400
("Unable to connect to VirtualMachineInstance because phase is Scheduling instead of Running"); a request
that is not a WebSocket upgrade answers 400; pings get pongs (RFC 6455 5.5.2); when the VMI goes away
the stream is closed.

What it simulates: the console is an emulated serial line. The boot log of each VMI (keyed by uid) goes
to the first client that attaches after the VMI started (a real serial line loses what nobody read;
KubeVirt does not replay it), then the line echoes what it receives and answers a line end with a login
prompt. VNC is the server side of RFB 3.8's handshake (version, security type None, ServerInit), enough
for a viewer to connect; nothing is drawn.

Lab-only: GET /_lab/streams gives per-VMI counts (connections, pings received) for tests; the fault
`console-drop BYTES` makes the next console connection drop after BYTES bytes, with no close frame.
"""
import base64
import hashlib
import select
import socket
import struct
import threading
import time
import zlib

from .store import StatusError

GROUP, VERSION = "subresources.kubevirt.io", "v1"
KINDS = ("console", "vnc", "vnc/screenshot")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL = "plain.kubevirt.io"
STATS = {}  # (cluster id, namespace, name) -> {"connections": n, "pings": n, "closes": n}
STATS_LOCK = threading.Lock()
BOOTED = set()  # VMI uids whose boot log a client has seen
DROPS = {}  # cluster id -> [bytes], the next console connections drop after that many bytes


def match(parts):
    """(namespace, name, kind) when the path is one of these subresources, else None."""
    if parts[:3] != ["apis", GROUP, VERSION] or len(parts) < 8 or parts[3] != "namespaces" or parts[5] != "virtualmachineinstances":
        return None
    kind = "/".join(parts[7:])
    return (parts[4], parts[6], kind) if kind in KINDS else None


def stat(cluster_id, namespace, name, key):
    with STATS_LOCK:
        counts = STATS.setdefault(f"{cluster_id}/{namespace}/{name}", {"connections": 0, "pings": 0, "closes": 0})
        counts[key] += 1


def running_vmi(state, namespace, name):
    vmis = state.registry.find("kubevirt.io", "v1", "virtualmachineinstances")
    if vmis is None:
        raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
    with state.lock:
        vmi = state.objects.get(vmis.key, {}).get((namespace, name))
        if vmi is None:
            raise StatusError(404, "NotFound", f'virtualmachineinstance.kubevirt.io "{name}" not found',
                              {"name": name, "group": "kubevirt.io", "kind": "virtualmachineinstance"})
        phase = (vmi.get("status") or {}).get("phase") or "Pending"
        if phase != "Running":
            raise StatusError(400, "BadRequest", f"Unable to connect to VirtualMachineInstance because phase is {phase} instead of Running")
        return vmi["metadata"]["uid"]


def vmi_uid(state, namespace, name):
    vmis = state.registry.find("kubevirt.io", "v1", "virtualmachineinstances")
    with state.lock:
        vmi = state.objects.get(vmis.key, {}).get((namespace, name))
        return vmi["metadata"]["uid"] if vmi else None


def serve(handler, state, cluster_id, namespace, name, kind):
    """Answers one request for a stream subresource on `handler` (a BaseHTTPRequestHandler)."""
    uid = running_vmi(state, namespace, name)
    if kind == "vnc/screenshot":
        return handler.reply(200, png(640, 480, name), "image/png")
    headers = handler.headers
    key = headers.get("Sec-WebSocket-Key")
    if (headers.get("Upgrade") or "").lower() != "websocket" or not key:
        raise StatusError(400, "BadRequest", "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header")
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    if SUBPROTOCOL in [p.strip() for p in (headers.get("Sec-WebSocket-Protocol") or "").split(",")]:
        handler.send_header("Sec-WebSocket-Protocol", SUBPROTOCOL)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    stat(cluster_id, namespace, name, "connections")
    peer = Peer(handler.connection, lambda: stat(cluster_id, namespace, name, "pings"))
    with STATS_LOCK:
        drop = DROPS.get(cluster_id, []).pop(0) if kind == "console" and DROPS.get(cluster_id) else None
    try:
        if kind == "console":
            console(peer, state, namespace, name, uid, drop)
        else:
            vnc(peer, state, namespace, name, uid)
    except (OSError, ProtocolError):
        pass
    stat(cluster_id, namespace, name, "closes")


class ProtocolError(Exception):
    pass


class Peer:
    """The server's side of RFC 6455 framing: client frames must be masked; ours are not."""

    def __init__(self, sock, on_ping):
        self.sock, self.buffer, self.on_ping, self.sent, self.closed = sock, b"", on_ping, 0, False

    def send(self, opcode, payload=b""):
        head = bytes([0x80 | opcode])
        n = len(payload)
        head += bytes([n]) if n < 126 else (bytes([126]) + struct.pack(">H", n) if n < 65536 else bytes([127]) + struct.pack(">Q", n))
        self.sock.sendall(head + payload)
        self.sent += len(head) + n

    def frames(self, timeout):
        """Whole frames that arrived within `timeout`: [(opcode, payload)]; None when the client left."""
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if readable:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        out = []
        while len(self.buffer) >= 2:
            b0, b1 = self.buffer[0], self.buffer[1]
            if not b1 & 0x80:
                raise ProtocolError("an unmasked client frame")
            n, offset = b1 & 0x7F, 2
            if n == 126:
                if len(self.buffer) < 4:
                    break
                n, offset = struct.unpack(">H", self.buffer[2:4])[0], 4
            elif n == 127:
                if len(self.buffer) < 10:
                    break
                n, offset = struct.unpack(">Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + 4 + n:
                break
            mask = self.buffer[offset:offset + 4]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.buffer[offset + 4:offset + 4 + n]))
            self.buffer = self.buffer[offset + 4 + n:]
            opcode = b0 & 0x0F
            if opcode == 0x9:
                self.on_ping()
                self.send(0xA, payload)
            elif opcode == 0x8:
                if not self.closed:
                    self.send(0x8, payload[:2])
                self.closed = True
                return None
            else:
                out.append((opcode, payload))
        return out

    def close(self, code=1000, reason=b""):
        if not self.closed:
            self.closed = True
            self.send(0x8, struct.pack(">H", code) + reason)


def boot_log(name):
    return [
        "[    0.000000] Linux version 6.1.0-lab (parvester lab double: an emulated serial line)",
        "[    0.000000] Command line: console=ttyS0",
        "[    0.412345] virtio_blk virtio1: [vda] 20971520 512-byte logical blocks",
        "[    1.102030] EXT4-fs (vda1): mounted filesystem with ordered data mode",
        "[    2.345678] cloud-init[312]: Cloud-init v. 22.4.2 running 'init' ...",
        f"[    3.210987] cloud-init[312]: hostname: {name}",
        "",
        "Debian GNU/Linux 12 " + name + " ttyS0",
        "",
    ]


def console(peer, state, namespace, name, uid, drop):
    first = uid not in BOOTED
    BOOTED.add(uid)
    if first:
        for line in boot_log(name):
            if drop is not None and peer.sent >= drop:
                return peer.sock.shutdown(socket.SHUT_RDWR)  # the fault: gone without a close frame
            peer.send(0x2, (line + "\r\n").encode())
            time.sleep(0.02)
    peer.send(0x2, f"{name} login: ".encode())
    while True:
        frames = peer.frames(0.2)
        if frames is None:
            return
        for opcode, payload in frames:
            if opcode in (0x1, 0x2):
                # A tty's line discipline: a line end (CR, LF or CRLF) echoes as CRLF.
                echo = payload.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
                peer.send(0x2, echo)
                if b"\r" in payload or b"\n" in payload:
                    peer.send(0x2, f"{name} login: ".encode())
        if drop is not None and peer.sent >= drop:
            return peer.sock.shutdown(socket.SHUT_RDWR)
        if vmi_uid(state, namespace, name) != uid:  # the VMI stopped (or was replaced): virt-handler ends the stream
            return peer.close(1000, b"VMI is gone")


def vnc(peer, state, namespace, name, uid):
    """RFB 3.8 (RFC 6143 7.1-7.3): ProtocolVersion, Security (None), SecurityResult, ClientInit, ServerInit."""
    peer.send(0x2, b"RFB 003.008\n")
    stage, pending = "version", b""
    while True:
        frames = peer.frames(0.2)
        if frames is None:
            return
        for _, payload in frames:
            pending += payload
        if stage == "version" and len(pending) >= 12:
            pending = pending[12:]
            peer.send(0x2, bytes([1, 1]))  # one security type: None
            stage = "security"
        if stage == "security" and len(pending) >= 1:
            pending = pending[1:]
            peer.send(0x2, struct.pack(">I", 0))  # SecurityResult: OK
            stage = "init"
        if stage == "init" and len(pending) >= 1:
            pending = pending[1:]
            title = name.encode()
            pixel_format = struct.pack(">BBBBHHHBBBxxx", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
            peer.send(0x2, struct.pack(">HH", 640, 480) + pixel_format + struct.pack(">I", len(title)) + title)
            stage = "session"
        if vmi_uid(state, namespace, name) != uid:
            return peer.close(1000, b"VMI is gone")


def png(width, height, name):
    """A PNG of the given size: a plain dark screen (the double draws nothing)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + b"\x20\x20\x28" * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Title\x00" + name.encode()) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))
