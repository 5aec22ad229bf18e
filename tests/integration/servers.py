# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw TCP servers for the probes' integration tests: one handler per connection, each in its thread."""

import socket
import threading
import time


class RawServer:
    """A TCP server on 127.0.0.1 running HANDLER(conn, stopped) per connection in its own thread."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn, self.stopped)
        except OSError:  # ssl.SSLError included: clients that refuse our certificate are expected
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()


def hold(conn, stopped, limit=20.0):
    """Keep the connection, saying nothing, until the client closes it, the test ends, or LIMIT passes."""
    conn.settimeout(0.2)
    end = time.monotonic() + limit
    while not stopped.is_set() and time.monotonic() < end:
        try:
            if not conn.recv(4096):
                return
        except socket.timeout:
            continue
