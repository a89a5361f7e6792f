#!/usr/bin/python3
"""pyftpdlib anchor for firmdrop's bench: a read-only FTP server on loopback over a given root.

Run with Debian's interpreter (apt-get install -y python3-pyftpdlib; `python3` on PATH may be another one):
  /usr/bin/python3 bench/anchors/pyftpdlib_server.py --root DIR --port PORT --pasv-min 20000 --pasv-max 29999
Defaults of pyftpdlib are kept (max_cons=512, max_cons_per_ip=0, listen backlog 100, epoll IOLoop) except logging,
which is silenced to warnings so that per-command log lines do not count against it. `--tuned` lifts the connection
cap (max_cons=0: unlimited) and uses a listen backlog of 2048, for a run that measures pyftpdlib's capacity rather
than its default limits. Prints "listening <port>" when ready.
"""
import argparse
import logging
import signal
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--pasv-min', type=int, default=20000)
    ap.add_argument('--pasv-max', type=int, default=29999)
    ap.add_argument('--user', default='bench')
    ap.add_argument('--password', default='bench')
    ap.add_argument('--tuned', action='store_true', help='max_cons=0 (unlimited), backlog 2048')
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, args.password, args.root, perm='elr')   # read-only
    handler = FTPHandler
    handler.authorizer = authorizer
    handler.passive_ports = range(args.pasv_min, args.pasv_max + 1)
    if args.tuned:
        server = FTPServer((args.host, args.port), handler, backlog=2048)
        server.max_cons = 0
    else:
        server = FTPServer((args.host, args.port), handler)
    signal.signal(signal.SIGTERM, lambda *_: server.close_all() or sys.exit(0))
    print('listening %d' % server.address[1], flush=True)
    server.serve_forever(handle_exit=True)


if __name__ == '__main__':
    main()
