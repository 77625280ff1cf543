"""A minimal RTSP relay for tests: ffmpeg publishes to it (ANNOUNCE / RECORD, RTP interleaved over
TCP) and cameras play from it (DESCRIBE / SETUP / PLAY), like the relays (mediamtx, rtsp-simple-
server) that sit in front of IP cameras. When the publisher goes, its players are dropped."""
from __future__ import annotations

import socket
import threading


class RtspRelay:
    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.host, self.port = self.sock.getsockname()
        self.sdp: str | None = None
        self.players: list[socket.socket] = []
        self.lock = threading.Lock()
        self.packets = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "live") -> str:
        return f"rtsp://{self.host}:{self.port}/{path}"

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        self._drop_players()

    def _drop_players(self) -> None:
        with self.lock:
            players, self.players = self.players, []
        for p in players:
            try:
                p.shutdown(socket.SHUT_RDWR)
                p.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        publisher = False
        try:
            while True:
                first = f.read(1)
                if not first:
                    break
                if first == b"$":  # interleaved RTP/RTCP from the publisher
                    head = f.read(3)
                    data = f.read(int.from_bytes(head[1:3], "big"))
                    if publisher:
                        self._forward(b"$" + head + data)
                    continue
                line = (first + f.readline()).decode("latin-1").strip()
                if not line:
                    continue
                headers = {}
                while True:
                    h = f.readline().decode("latin-1").strip()
                    if not h:
                        break
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length", 0) or 0)).decode("latin-1")
                method, url = line.split()[:2]
                cseq = headers.get("cseq", "0")
                extra: dict[str, str] = {}
                status, payload = "200 OK", ""
                if method == "OPTIONS":
                    extra["Public"] = "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER"
                elif method == "ANNOUNCE":
                    publisher = True
                    self.sdp = body
                elif method == "DESCRIBE":
                    if self.sdp is None:
                        status = "404 Not Found"
                    else:
                        extra["Content-Base"] = url.rstrip("/") + "/"
                        extra["Content-Type"] = "application/sdp"
                        payload = self.sdp
                elif method == "SETUP":
                    transport = headers.get("transport", "")
                    if "TCP" not in transport.upper():
                        status = "461 Unsupported Transport"
                    else:
                        extra["Transport"] = transport
                        extra["Session"] = "12345678"
                elif method in ("RECORD", "PLAY"):
                    extra["Session"] = "12345678"
                elif method == "TEARDOWN":
                    self._reply(conn, cseq, "200 OK", {}, "")
                    break
                self._reply(conn, cseq, status, extra, payload)
                if method == "PLAY" and status.startswith("200"):
                    with self.lock:
                        self.players.append(conn)
        except (OSError, ValueError):
            pass
        finally:
            if publisher:
                self.sdp = None
                self._drop_players()
            try:
                conn.close()
            except OSError:
                pass

    def _reply(self, conn, cseq, status, extra, payload) -> None:
        lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}"] + [f"{k}: {v}" for k, v in extra.items()]
        data = payload.encode("latin-1")
        if data:
            lines.append(f"Content-Length: {len(data)}")
        msg = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
        with self.lock:
            conn.sendall(msg)

    def _forward(self, packet: bytes) -> None:
        self.packets += 1
        with self.lock:
            dead = []
            for p in self.players:
                try:
                    p.sendall(packet)
                except OSError:
                    dead.append(p)
            for p in dead:
                self.players.remove(p)
