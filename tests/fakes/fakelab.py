"""What the fake cloud services share: their command line, the lab they stand in front of, and serving.

    python3 tests/fakes/<fake>.py --lab-env LAB_ENV --config CONFIG.json [--port N] [--exit-with-stdin]

prints "listening on http://127.0.0.1:PORT" once it answers.
"""

import argparse
import json
import os
import re
import sys
import threading
from http.server import ThreadingHTTPServer


def run(handler, make_state, entries_key):
    """Reads the command line, the lab's env file and the config; gives every config entry under `entries_key`
    its lab login (a sub-address, bob+tag@, is the lab user's mailbox); then serves `handler` with
    `make_state(lab, config)` on loopback until killed, or until standard input closes with --exit-with-stdin."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab-env", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--exit-with-stdin", action="store_true", help="stop when standard input closes")
    args = ap.parse_args()
    lab = {}
    for line in open(args.lab_env):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            lab[k] = v.strip('"')
    config = json.load(open(args.config))
    for entry in config[entries_key]:
        user = entry.setdefault("labUser", re.sub(r"\+[^@]*@", "@", entry["address"]))
        entry.setdefault("labPassword", lab[f"LAB_PASSWORD_{user.split('@')[0].upper()}"])
    handler.state = make_state(lab, config)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    if args.exit_with_stdin:
        # The test that started the fake holds its standard input: when that process ends, so does the fake.
        def watch():
            sys.stdin.buffer.read()
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
