#!/usr/bin/env python3
"""A local news feed server for the crawler demo (Python standard library only).

Serves N generated feeds at /feeds/<n>.xml (n = 1..N): odd ones RSS 2.0, even ones Atom 1.0.
Every feed gains a new item every --item-interval seconds (feed n starts n seconds later than
feed 1, so they do not all change at once) and lists its newest 10 items, so a crawler that
fetches it again sees only the items published since. Each answer has an ETag and a
Last-Modified of its newest item; a GET with a matching If-None-Match gets a 304. /feeds/ lists
the feed URLs, one a line.

  scripts/feed-server.py 8000                 # 5 feeds on http://127.0.0.1:8000/feeds/<n>.xml
  scripts/feed-server.py 0 --feeds 20         # a free port; the first line printed names it

Prints "serving N feeds on http://127.0.0.1:PORT/feeds/" once it listens.
"""
import argparse
import email.utils
import sys
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

KEEP_ITEMS = 10


def items_of(feed, now, start, interval):
    """(index, published) of the feed's newest items at `now`, newest first."""
    first = start + feed  # feed n's first item appears n seconds after start
    if now < first:
        return []
    newest = int((now - first) // interval)
    return [(k, first + k * interval) for k in range(newest, max(-1, newest - KEEP_ITEMS), -1)]


def rss(feed, items, base):
    entries = "".join(
        f"<item><title>Feed {feed} story {k}</title><link>{base}/stories/{feed}/{k}</link>"
        f"<guid>{base}/stories/{feed}/{k}</guid>"
        f"<pubDate>{email.utils.formatdate(published, usegmt=True)}</pubDate></item>"
        for k, published in items)
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Demo feed {feed}</title><link>{base}/</link><description>generated</description>"
            f"{entries}</channel></rss>")


def atom(feed, items, base):
    def stamp(seconds):
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    updated = stamp(items[0][1]) if items else stamp(0)
    entries = "".join(
        f"<entry><title>Feed {feed} story {k}</title><link href=\"{base}/stories/{feed}/{k}\"/>"
        f"<id>{base}/stories/{feed}/{k}</id><updated>{stamp(published)}</updated></entry>"
        for k, published in items)
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Demo feed {feed}</title><id>{base}/feeds/{feed}.xml</id><updated>{updated}</updated>"
            f"{entries}</feed>")


def make_handler(feeds, start, interval, quiet):
    class Handler(BaseHTTPRequestHandler):
        server_version = "feed-server/1.0"

        def do_GET(self):  # noqa: N802 (the http.server naming)
            base = f"http://{self.headers.get('Host') or '127.0.0.1'}"
            path = self.path.split("?", 1)[0]
            if path in ("/feeds", "/feeds/"):
                body = "".join(f"{base}/feeds/{n}.xml\n" for n in range(1, feeds + 1))
                return self.answer(200, "text/plain; charset=utf-8", body)
            if path.startswith("/feeds/") and path.endswith(".xml"):
                name = path[len("/feeds/"):-len(".xml")]
                if name.isdigit() and 1 <= int(name) <= feeds:
                    feed = int(name)
                    items = items_of(feed, time.time(), start, interval)
                    # Validators change with the newest item: a conditional GET of an unchanged
                    # feed gets a 304 and no body.
                    etag = f'"{feed}-{items[0][0] if items else -1}"'
                    validators = {"ETag": etag}
                    if items:
                        validators["Last-Modified"] = email.utils.formatdate(items[0][1], usegmt=True)
                    if self.headers.get("If-None-Match") == etag:
                        return self.answer(304, None, "", validators)
                    if feed % 2:
                        return self.answer(200, "application/rss+xml", rss(feed, items, escape(base)), validators)
                    return self.answer(200, "application/atom+xml", atom(feed, items, escape(base)), validators)
            return self.answer(404, "text/plain; charset=utf-8", "not found\n")

        def answer(self, status, content_type, body, headers=None):
            data = body.encode("utf-8")
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            if not quiet:
                sys.stderr.write("[feed-server] %s %s\n" % (self.address_string(), format % args))

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--feeds", type=int, default=5, help="number of feeds (default 5)")
    parser.add_argument("--item-interval", type=float, default=3.0,
                        help="seconds between new items of one feed (default 3)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args()
    if args.feeds < 1 or args.item_interval <= 0:
        parser.error("--feeds must be at least 1 and --item-interval positive")
    server = ThreadingHTTPServer((args.bind, args.port),
                                 make_handler(args.feeds, time.time(), args.item_interval, args.quiet))
    server.daemon_threads = True
    print(f"serving {args.feeds} feeds on http://{args.bind}:{server.server_port}/feeds/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
