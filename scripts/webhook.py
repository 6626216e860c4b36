#!/usr/bin/env python3
"""A webhook receiver for the sandbox (scripts/sandbox.sh): webhook.py PORT OUT [DOWN_FILE].

Each POST body with a JSON content type (application/json or application/x-ndjson) is appended
to OUT, ending in a newline; anything else is answered 415. While DOWN_FILE exists, every POST is
answered 503 and nothing is kept (a receiver that is down).
"""
import http.server
import os
import sys

port, out = int(sys.argv[1]), sys.argv[2]
down = sys.argv[3] if len(sys.argv) > 3 else None


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        if down and os.path.exists(down):
            code = 503
        elif self.headers['Content-Type'] not in ('application/json', 'application/x-ndjson'):
            code = 415
        else:
            with open(out, 'ab') as f:
                f.write(body if body.endswith(b'\n') else body + b'\n')
            code = 200
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(('127.0.0.1', port), Hook).serve_forever()
