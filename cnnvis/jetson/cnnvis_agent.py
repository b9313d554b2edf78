#!/usr/bin/env python3
"""cnnvis Jetson agent: stream tegrastats (or jtop) samples and TensorRT layer timings to a cnnvis server.

One file, standard library only, Python >= 3.6 (JetPack 4), so it can be copied onto a board where
cnnvis itself cannot be installed:

    CNNVIS_AGENT_TOKEN=... python3 cnnvis_agent.py --server https://host:8888/ [--name NAME]
        [--replay FILE [--interval SECONDS]] [--engine PATH] [--token-file FILE] [--ca-file FILE]

It opens no port: it dials out to the server's ``cnnvis/api/agent`` WebSocket (TLS for https/wss).
Every sample gets a sequence number and waits in an SQLite buffer on disk until the server has
acknowledged it, so samples read while the server is away are sent after it comes back. The
buffer is bounded: when full, the oldest samples are dropped with a warning. One agent owns a
buffer (a lock file beside it): a second agent on the same buffer refuses to start.

Nothing the server sends is trusted blindly: an acknowledgement beyond what this agent sent, a
malformed message or an oversized frame ends the connection with an error and a reconnect; no
unacknowledged sample is ever deleted because of it.
"""

import argparse
import base64
import fcntl
import hashlib
import json
import logging
import os
import re
import select
import shutil
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from urllib.parse import quote, urlsplit

VERSION = "1"
LOG = logging.getLogger("cnnvis-agent")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TOKEN_HEADER = "X-Cnnvis-Device-Token"
BATCH = 200
MAX_BATCH_BYTES = 2 << 20  # the server takes messages up to 4 MiB
MAX_SAMPLE_BYTES = 1 << 20  # a bigger sample is dropped with a warning (it could never be sent)
MAX_FRAME = 1 << 20  # the server only sends small control messages (welcome, ack)
MAX_SEQ = 2 ** 62  # the server's bound on sequence numbers
MAX_IN_FLIGHT = 2000
ACK_TIMEOUT = 30.0
STAMP = re.compile(r"^\s*(?:(\d{2})-(\d{2})-(\d{4})|(\d{4})-(\d{2})-(\d{2}))[ T](\d{2}):(\d{2}):(\d{2})")


class Refused(Exception):
    """The server refused the device token (or the connection for good): retrying will not help."""


class Closed(Exception):
    """The connection ended; the agent reconnects."""


class ProtocolError(Closed):
    """The server sent something invalid: the agent reports it, acts on none of it and reconnects."""


class BufferBusy(Exception):
    """Another agent holds the buffer's lock."""


# -- WebSocket client (RFC 6455), client side only ----------------------------------------------------

class WebSocket:
    """A blocking WebSocket client over socket/ssl: JSON text messages, masked frames, pings answered."""

    def __init__(self, url, headers, timeout=10.0, cafile=None):
        parts = urlsplit(url)
        self.secure = parts.scheme in ("wss", "https")
        self.host, self.port = parts.hostname, parts.port or (443 if self.secure else 80)
        self.target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.headers, self.timeout, self.cafile = headers, timeout, cafile
        self.sock = None
        self._buf = b""
        self._parts = []

    def connect(self):
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if self.secure:
            context = ssl.create_default_context(cafile=self.cafile)
            raw = context.wrap_socket(raw, server_hostname=self.host)
        self.sock = raw
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {self.target} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13", "User-Agent: cnnvis-agent/" + VERSION]
        lines += ["{}: {}".format(*item) for item in self.headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, headers, body = self._read_response()
        if status in (401, 403):
            raise Refused(f"the server refused the device token (HTTP {status}): {body}")
        if status != 101:
            raise Closed(f"the server answered HTTP {status} instead of a WebSocket: {body}")
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise Closed("the server's WebSocket handshake is wrong (Sec-WebSocket-Accept)")
        self.sock.settimeout(None)

    def _read_response(self):
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk or len(self._buf) > 65536:
                raise Closed("the server closed the connection during the handshake")
            self._buf += chunk
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        words = lines[0].split()
        if len(words) < 2 or not words[1].isdigit() or len(words[1]) != 3:
            raise ProtocolError("the server's answer is not HTTP: " + repr(lines[0][:80]))
        status = int(words[1])
        headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
        body = b""
        if status != 101:
            length = headers.get("content-length", "0").strip()
            length = min(int(length), 65536) if length.isdigit() and len(length) < 12 else 0
            while len(self._buf) < min(length, 65536):
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self._buf += chunk
            body = self._buf[:length]
        return status, headers, _message(body)

    def fileno(self):
        return self.sock.fileno()

    def pending(self):
        """True when a message may be readable without waiting (bytes already buffered)."""
        return bool(self._buf) or (self.secure and self.sock.pending() > 0)

    def send_json(self, obj):
        self._send(0x1, json.dumps(obj, separators=(",", ":")).encode())

    def _send(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        if n:  # XOR with the repeated mask key, as one big integer (fast without numpy)
            key = (mask * (n // 4 + 1))[:n]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        try:
            self.sock.sendall(head + mask + payload)
        except (OSError, ssl.SSLError) as exc:
            raise Closed(f"send failed: {exc}") from None

    def receive(self):
        """Read what is available (call when select says readable) and return the complete messages."""
        try:
            chunk = self.sock.recv(65536)
        except ssl.SSLWantReadError:
            chunk = None
        except (OSError, ssl.SSLError) as exc:
            raise Closed(f"receive failed: {exc}") from None
        if chunk == b"":
            raise Closed("the server closed the connection")
        self._buf += chunk or b""
        messages = []
        while True:
            frame = self._frame()
            if frame is None:
                return messages
            message = self._handle(*frame)
            if message is not None:
                messages.append(message)

    def _frame(self):
        buf = self._buf
        if len(buf) < 2:
            return None
        fin, opcode, n, offset = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x7F, 2
        if buf[1] & 0x80 or buf[0] & 0x70:  # RFC 6455: a server never masks, and no extension was agreed
            raise ProtocolError("the server sent a masked frame or one with reserved bits set")
        if n == 126:
            if len(buf) < 4:
                return None
            n, offset = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, offset = struct.unpack("!Q", buf[2:10])[0], 10
        if opcode not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA) or (opcode >= 0x8 and (n > 125 or not fin)):
            raise ProtocolError(f"the server sent an invalid frame (opcode {opcode}, {n} bytes)")
        if n + sum(len(p) for p in self._parts) > MAX_FRAME:  # refused before it is read into memory
            raise ProtocolError(f"the server sent a message of {n} bytes or more (limit {MAX_FRAME})")
        if len(buf) < offset + n:
            return None
        self._buf = buf[offset + n:]
        return fin, opcode, buf[offset:offset + n]

    def _handle(self, fin, opcode, payload):
        if opcode == 0x9:  # ping
            self._send(0xA, payload)
        elif opcode == 0x8:  # close: echo it, then report the server's code and reason
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            reason = payload[2:].decode("utf-8", "replace")
            try:
                self._send(0x8, payload[:2])
            except Closed:
                pass
            if code in (4401, 4403):
                raise Refused("the server closed the connection: " + reason)
            raise Closed(f"the server closed the connection ({code} {reason})")
        elif opcode in (0x0, 0x1, 0x2):
            self._parts.append(payload)
            if fin:
                data, self._parts = b"".join(self._parts), []
                try:
                    message = json.loads(data.decode("utf-8"))
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    raise ProtocolError("the server sent a message that is not a JSON object")
                return message
        return None

    def close(self):
        if self.sock is not None:
            try:
                self._send(0x8, struct.pack("!H", 1000))
            except Closed:
                pass
            self.sock.close()
            self.sock = None


def _message(body):
    try:
        return json.loads(body.decode("utf-8")).get("message", "")
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")[:300]


# -- the disk buffer ------------------------------------------------------------------------------

class Buffer:
    """Samples waiting for the server's acknowledgement, in SQLite; the next sequence number too.

    One agent owns a buffer: an exclusive lock on ``FILE.lock`` (released by the kernel when the
    process ends, even killed), so two agents never number or send the same samples.
    """

    def __init__(self, path, max_samples):
        self.max_samples = max(1, max_samples)
        self.dropped = 0
        self._warned = 0.0
        self._lock = threading.Lock()
        self._owner = _lock_file(path + ".lock")
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', 1)")
        # The highest number ever sent: a server may acknowledge up to it, no further. (A buffer
        # from before this was kept counts everything it numbered as sent.)
        self.db.execute("INSERT OR IGNORE INTO meta SELECT 'sent', value - 1 FROM meta WHERE key = 'next_seq'")

    def _transaction(self, work):
        """``work()`` in one write transaction, rolled back if anything in it fails."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return result

    def _next(self):
        return self.db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]

    def sent(self):
        """The highest sequence number ever sent from this buffer (0: none yet)."""
        with self._lock:
            return self.db.execute("SELECT value FROM meta WHERE key = 'sent'").fetchone()[0]

    def mark_sent(self, seq):
        self._transaction(lambda: self.db.execute(
            "UPDATE meta SET value = MAX(value, ?) WHERE key = 'sent'", (seq,)))

    def append(self, sample):
        body = json.dumps(sample)
        if len(body) > MAX_SAMPLE_BYTES:
            LOG.warning("dropped a sample of %d bytes (limit %d)", len(body), MAX_SAMPLE_BYTES)
            return None

        def work():
            seq = self._next()
            self.db.execute("INSERT INTO pending VALUES (?, ?)", (seq, body))
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
            extra = self.count() - self.max_samples
            if extra > 0:
                self.db.execute("DELETE FROM pending WHERE seq IN (SELECT seq FROM pending ORDER BY seq LIMIT ?)",
                                (extra,))
            return seq, extra

        seq, extra = self._transaction(work)
        if extra > 0:
            self._dropped(extra)
        return seq

    def _dropped(self, n):
        self.dropped += n
        if time.time() - self._warned > 10:  # one warning per ten seconds while it lasts
            self._warned = time.time()
            LOG.warning("buffer full (%d samples): dropped the oldest unsent samples (%d so far)",
                        self.max_samples, self.dropped)

    def count(self):
        return self.db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def after(self, seq, limit, max_bytes=MAX_BATCH_BYTES):
        """Up to ``limit`` samples after ``seq`` whose JSON adds up to at most ``max_bytes`` (one at least)."""
        with self._lock:
            rows = self.db.execute("SELECT seq, body FROM pending WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
            out, size = [], 0
            for number, body in rows.fetchall():
                size += len(body)
                if out and size > max_bytes:
                    break
                sample = json.loads(body)
                sample["seq"] = number  # the row's number is the truth (see skip_to)
                out.append(sample)
            return out

    def ack(self, seq):
        """Forget everything up to ``seq``: the server holds it. The caller checked ``seq`` is ours."""
        self._transaction(lambda: self.db.execute("DELETE FROM pending WHERE seq <= ?", (seq,)))

    def skip_to(self, last):
        """The server holds numbers up to ``last`` that this buffer never sent (an earlier buffer of
        this device): number the pending samples after it (none is deleted), so the server does not
        take them for resends."""
        def work():
            first = self.db.execute("SELECT MIN(seq) FROM pending").fetchone()[0]
            nxt = self._next()
            if first is not None:  # through negative numbers, so no key collides on the way
                self.db.execute("UPDATE pending SET seq = -seq")
                self.db.execute("UPDATE pending SET seq = ? - seq", (last + 1 - first,))
                nxt += last + 1 - first
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (max(nxt, last + 1),))
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'sent'", (last,))

        self._transaction(work)


def _lock_file(path):
    """Hold an exclusive lock on ``path`` for the life of the process; BufferBusy if another holds it."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip()[:20]
        handle.close()
        held = f" (pid {owner})" if owner else ""
        raise BufferBusy(f"the buffer {path[:-5]} is in use by another agent{held}; stop it first, or give "
                         "this agent another --name or --buffer") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


# -- sample sources -------------------------------------------------------------------------------

def tegrastats_lines(interval):
    exe = shutil.which("tegrastats")
    proc = subprocess.Popen([exe, "--interval", str(max(1, int(interval * 1000)))], stdout=subprocess.PIPE,
                            universal_newlines=True, errors="replace", bufsize=1)
    try:
        for line in proc.stdout:
            yield {"line": line.rstrip("\n")}
    finally:
        proc.kill()
        proc.wait()
    LOG.error("tegrastats exited with status %s", proc.returncode)


def _stamp(line):
    m = STAMP.match(line)
    if not m:
        return None
    g = m.groups()
    year, month, day = (g[2], g[0], g[1]) if g[0] else (g[3], g[4], g[5])
    try:
        return datetime(int(year), int(month), int(day), int(g[6]), int(g[7]), int(g[8]))
    except ValueError:
        return None


def replay_lines(path, interval, loop=False):
    """The log's sample lines at the recorded pace (from their timestamps, else 1 s) or every ``interval``."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.rstrip("\r\n") for line in f if "RAM " in line]
    due, previous, first = time.monotonic(), None, True
    while True:
        for line in lines:
            stamp = _stamp(line)
            if first:
                step, first = 0.0, False
            elif interval is not None:
                step = interval
            elif stamp is not None and previous is not None:
                step = min(60.0, max(0.0, (stamp - previous).total_seconds()))
            else:
                step = 1.0
            previous = stamp or previous
            due += step
            time.sleep(max(0.0, due - time.monotonic()))
            yield {"line": line}
        if not loop:
            return


def jtop_samples(interval):
    from jtop import jtop  # optional: jetson-stats, where installed

    with jtop(interval=interval) as jetson:
        while jetson.ok():
            yield {"jtop": {str(k): v if isinstance(v, (int, float, str, type(None))) else str(v)
                            for k, v in dict(jetson.stats).items()}}


def engine_profiles(path, every):
    """Per-layer timings of a TensorRT engine: trtexec's profile export, every ``every`` seconds."""
    exe = shutil.which("trtexec") or ("/usr/src/tensorrt/bin/trtexec"
                                      if os.path.exists("/usr/src/tensorrt/bin/trtexec") else None)
    while True:
        started = time.monotonic()
        layers = _trtexec_profile(exe, path) if exe else _tensorrt_layers(path)
        if layers is not None:
            yield {"profile": {"engine": os.path.basename(path), "layers": layers}}
        time.sleep(max(1.0, every - (time.monotonic() - started)))


def _trtexec_profile(exe, path):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "profile.json")
        cmd = [exe, "--loadEngine=" + path, "--dumpProfile", "--separateProfileRun", "--exportProfile=" + out]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                errors="replace")
        if result.returncode != 0 or not os.path.exists(out):
            LOG.error("trtexec failed (%s): %s", result.returncode, result.stdout[-500:])
            return None
        with open(out) as f:
            records = json.load(f)
    return [{"name": r["name"], "avg_ms": r.get("averageMs"), "median_ms": r.get("medianMs"),
             "pct": r.get("percentage")} for r in records if isinstance(r, dict) and "name" in r]


def _tensorrt_layers(path):
    """Without trtexec: the engine's layer names from tensorrt's inspector (no timings)."""
    try:
        import tensorrt as trt  # optional, where TensorRT's Python bindings are installed
    except ImportError:
        LOG.error("--engine needs trtexec on the PATH or the tensorrt Python package")
        return None
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    with open(path, "rb") as f:
        engine = runtime.deserialize_cuda_engine(f.read())
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    return [{"name": layer if isinstance(layer, str) else layer.get("Name", "?")} for layer in info.get("Layers", [])]


# -- the agent ------------------------------------------------------------------------------------

def agent_url(server, name):
    parts = urlsplit(server if "://" in server else "http://" + server)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        fail("--server must be an http(s):// or ws(s):// URL")
    path = parts.path.rstrip("/")
    if not path.endswith("/cnnvis/api/agent"):
        path += "/cnnvis/api/agent"
    return f"{scheme}://{parts.netloc}{path}?name={quote(name)}"


def device_info(args):
    info = {"hostname": socket.gethostname(), "python": sys.version.split()[0], "agent": VERSION,
            "source": "replay" if args.replay else args.source}
    for key, path in (("model", "/proc/device-tree/model"), ("l4t", "/etc/nv_tegra_release")):
        try:
            with open(path, errors="replace") as f:
                info[key] = f.readline().strip().strip("\x00")[:200]
        except OSError:
            pass
    return info


class Agent:
    def __init__(self, args, token, buffer):
        self.args, self.buffer = args, buffer
        self.url = agent_url(args.server, args.name)
        self.headers = {TOKEN_HEADER: token}
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)  # a full pipe already means "wake up"
        self.finished = threading.Event()
        self.failed = None

    def produce(self, source, last=True):
        """Run in a thread: buffer each sample of ``source`` and wake the sender."""
        try:
            for sample in source:
                sample["t"] = time.time()
                self.buffer.append(sample)
                self._wake()
        except BaseException as exc:  # reported by the main thread
            self.failed = exc
        if last:
            self.finished.set()
            self._wake()

    def _wake(self):
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:
            pass

    def run(self):
        delay = 0.5
        while True:
            ws = WebSocket(self.url, self.headers, cafile=self.args.cafile)
            try:
                ws.connect()
                LOG.info("connected to %s", self.url.split("?")[0])
                delay = 0.5
                if self.stream(ws):
                    return 0
            except Refused as exc:
                LOG.error("%s; get a new token with `jupyter cnnvis token create NAME`", exc)
                return 2
            except ssl.SSLError as exc:
                if getattr(exc, "reason", None) != "CERTIFICATE_VERIFY_FAILED":
                    LOG.warning("connection lost (%s); retrying in %.1f s", exc, delay)
                else:  # an impostor or a missing --ca-file: retrying sends nothing anyway
                    LOG.error("the server's certificate could not be verified (%s); for a self-signed server "
                              "pass the certificate that signed it with --ca-file FILE", exc.verify_message
                              if hasattr(exc, "verify_message") else exc)
                    return 2
            except ProtocolError as exc:
                LOG.error("protocol error: %s; retrying in %.1f s", exc, delay)
            except (Closed, OSError, ValueError) as exc:
                LOG.warning("connection lost (%s); retrying in %.1f s", exc, delay)
            finally:
                ws.close()
            if self.failed is not None and self.buffer.count() == 0:
                return 1
            time.sleep(delay)
            delay = min(self.args.reconnect_max, delay * 2)

    def stream(self, ws):
        """Send unacknowledged samples and read acknowledgements until done (True) or cut (raises)."""
        ws.send_json({"type": "hello", "info": device_info(self.args)})
        acked = sent = self._welcome(ws)
        waiting_since = None
        while True:
            more = False
            if sent - acked < MAX_IN_FLIGHT:
                batch = self.buffer.after(sent, BATCH)
                if batch:
                    self.buffer.mark_sent(batch[-1]["seq"])  # before it leaves: an ack may follow at once
                    ws.send_json({"type": "samples", "samples": batch})
                    sent = batch[-1]["seq"]
                    waiting_since = waiting_since or time.monotonic()
                    more = True
            if self.finished.is_set() and self.buffer.count() == 0:
                if self.failed is not None:
                    raise SystemExit(f"cnnvis-agent: the sample source failed: {self.failed}")
                return True
            if waiting_since and time.monotonic() - waiting_since > ACK_TIMEOUT:
                raise Closed(f"no acknowledgement for {ACK_TIMEOUT} s")
            ready = [ws] if ws.pending() else select.select([ws, self.wake_r], [], [], 0 if more else 1.0)[0]
            if self.wake_r in ready:
                os.read(self.wake_r, 4096)
            if ws in ready:
                for message in ws.receive():
                    if message.get("type") == "ack":
                        # Only numbers this agent sent on this connection can be acknowledged.
                        acked = max(acked, _seq(message, "seq", sent, "ack"))
                        self.buffer.ack(acked)
                        waiting_since = None if acked >= sent else time.monotonic()

    def _welcome(self, ws):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if ws.pending() or select.select([ws], [], [], 1.0)[0]:
                for message in ws.receive():
                    if message.get("type") == "welcome":
                        last = _seq(message, "last_seq", MAX_SEQ - 1, "welcome")
                        if last <= self.buffer.sent():
                            self.buffer.ack(last)  # the server holds these already
                        else:  # numbers this buffer never sent: an earlier buffer's history, continue after it
                            LOG.info("the server holds samples up to %d for this device; numbering new "
                                     "samples after it", last)
                            self.buffer.skip_to(last)
                        return last
        raise Closed("no welcome from the server")


def _seq(message, key, highest, kind):
    """``message[key]`` as a sequence number in ``0..highest``; else the server broke the protocol."""
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= highest:
        raise ProtocolError(f"the server's {kind} carries {key}={value!r:.40}, outside 0..{highest}: "
                            "ignored, reconnecting (nothing unsent is deleted)")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cnnvis_agent.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="the Jupyter server's URL (http(s)://host:port/base/)")
    p.add_argument("--name", default=socket.gethostname(), help="device name (default: the host name)")
    p.add_argument("--replay", metavar="FILE", help="stream a recorded tegrastats log instead of the board")
    p.add_argument("--interval", type=float, help="seconds between samples (replay default: the recorded pace; "
                                                  "live default: 1)")
    p.add_argument("--loop", action="store_true", help="replay the log again and again")
    p.add_argument("--source", choices=("tegrastats", "jtop"), default=None, help="live source (default: "
                   "tegrastats where it is on the PATH, else jtop)")
    p.add_argument("--engine", metavar="PATH", help="also time this TensorRT engine per layer")
    p.add_argument("--engine-every", type=float, default=60.0, help="seconds between engine profiles")
    p.add_argument("--token-file", help="file holding the device token (else $CNNVIS_AGENT_TOKEN)")
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.add_argument("--buffer", help="SQLite file of unsent samples (default ~/.cache/cnnvis-agent/NAME.sqlite)")
    p.add_argument("--buffer-max", type=int, default=100000, help="most samples kept while disconnected")
    p.add_argument("--reconnect-max", type=float, default=10.0, help="longest wait between reconnections")
    p.add_argument("--ca-file", "--cafile", dest="cafile", metavar="FILE",
                   help="CA bundle (PEM) that signed the server's certificate, for a self-signed server")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.token is not None:
        p.error("the token is never read from the command line (other users see it in the process list); "
                "set CNNVIS_AGENT_TOKEN or use --token-file")
    if args.source is None:
        args.source = "tegrastats" if shutil.which("tegrastats") or not _has_jtop() else "jtop"
    return args


def _has_jtop():
    try:
        import jtop  # noqa: F401  (optional)
    except ImportError:
        return False
    return True


def fail(message, status=2):
    sys.stderr.write("cnnvis-agent: " + message + "\n")
    raise SystemExit(status)


def read_token(args):
    if args.token_file:
        with open(args.token_file) as f:
            return f.read().strip()
    token = os.environ.get("CNNVIS_AGENT_TOKEN", "").strip()
    if not token:
        fail("no device token: set CNNVIS_AGENT_TOKEN or use --token-file "
             "(create one on the server with `jupyter cnnvis token create NAME`)")
    return token


def open_source(args):
    if args.replay:
        if not os.path.isfile(args.replay):
            fail("no such log: " + args.replay)
        return replay_lines(args.replay, args.interval, args.loop)
    if args.source == "jtop":
        return jtop_samples(args.interval or 1.0)
    if shutil.which("tegrastats") is None:
        fail("tegrastats is not on the PATH (and jtop is not installed); use --replay FILE to stream a "
             "recorded log", 1)
    return tegrastats_lines(args.interval or 1.0)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s cnnvis-agent %(levelname)s %(message)s")
    token = read_token(args)
    source = open_source(args)
    path = args.buffer or os.path.join(os.path.expanduser("~"), ".cache", "cnnvis-agent", args.name + ".sqlite")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if args.cafile and not os.path.isfile(args.cafile):
        fail("no such CA file: " + args.cafile)
    try:
        buffer = Buffer(path, args.buffer_max)
    except BufferBusy as exc:
        fail(str(exc), 3)
    agent = Agent(args, token, buffer)
    threading.Thread(target=agent.produce, args=(source,), daemon=True).start()
    if args.engine:
        profiles = engine_profiles(args.engine, args.engine_every)
        threading.Thread(target=agent.produce, args=(profiles, False), daemon=True).start()
    try:
        return agent.run()
    except KeyboardInterrupt:
        return 130

if __name__ == "__main__":
    sys.exit(main())
