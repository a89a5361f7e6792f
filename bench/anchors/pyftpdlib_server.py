#!/usr/bin/python3
"""pyftpdlib anchor for firmdrop's bench: a read-only FTP server on loopback over a given root.

Run with Debian's interpreter (apt-get install -y python3-pyftpdlib; `python3` on PATH may be another one):
  /usr/bin/python3 bench/anchors/pyftpdlib_server.py --root DIR --port PORT --pasv-min 40000 --pasv-max 49999
Defaults of pyftpdlib are kept (max_cons=512, max_cons_per_ip=0, epoll IOLoop) except logging, which is
silenced to warnings so that per-command log lines do not count against it. Prints "listening <port>" when ready.
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
    ap.add_argument('--pasv-min', type=int, default=40000)
    ap.add_argument('--pasv-max', type=int, default=49999)
    ap.add_argument('--user', default='bench')
    ap.add_argument('--password', default='bench')
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, args.password, args.root, perm='elr')   # read-only
    handler = FTPHandler
    handler.authorizer = authorizer
    handler.passive_ports = range(args.pasv_min, args.pasv_max + 1)
    server = FTPServer((args.host, args.port), handler)
    signal.signal(signal.SIGTERM, lambda *_: server.close_all() or sys.exit(0))
    print('listening %d' % server.address[1], flush=True)
    server.serve_forever(handle_exit=True)


if __name__ == '__main__':
    main()
