#!/usr/bin/env python3
"""tests/bench/replay.py: serve recorded Docker Engine API answers on many unix
sockets, for the fleet benchmark (bench-fleet.sh): a hundred dockerds cannot
run here, and what the benchmark measures is reconcile's own cost.

    replay.py DIR SOCKET_PREFIX N

DIR holds what bench-fleet.sh recorded from a real dockerd: ping (the
API-Version header), version.json, info.json, containers.json, networks.json,
image.json. Socket i (SOCKET_PREFIX + i, 0 <= i < N) answers as a daemon whose
environment label is "e<i>.example.com" instead of "e0.example.com" and whose
ID ends in its number. Anything else is a 404. Mutating requests are refused
(500): a no-op run sends none.
"""
import asyncio
import os
import sys


def load(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def answers(d, i):
    env = b"e%d.example.com" % i
    info = load(d, "info.json").replace(b'"ID":"', b'"ID":"R%04d' % i, 1)
    return {
        "containers": load(d, "containers.json").replace(b"e0.example.com", env),
        "networks": load(d, "networks.json"),
        "image": load(d, "image.json"),
        "version": load(d, "version.json"),
        "info": info,
    }


async def serve(reader, writer, a, api):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            method, path = line.split(b" ")[:2]
            length = 0
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
            if length:
                await reader.readexactly(length)
            p = path.split(b"?")[0]
            code, body = 404, b'{"message":"not recorded"}'
            if method != b"GET":
                code, body = 500, b'{"message":"replay: read only"}'
            elif p.endswith(b"/_ping"):
                code, body = 200, b"OK"
            elif p.endswith(b"/containers/json"):
                code, body = 200, a["containers"]
            elif p.endswith(b"/networks"):
                code, body = 200, a["networks"]
            elif b"/images/" in p and p.endswith(b"/json"):
                code, body = 200, a["image"]
            elif p.endswith(b"/version"):
                code, body = 200, a["version"]
            elif p.endswith(b"/info"):
                code, body = 200, a["info"]
            writer.write(b"HTTP/1.1 %d X\r\nApi-Version: %s\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % (code, api, len(body)) + body)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    writer.close()


async def main():
    d, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    api = load(d, "ping").strip()
    servers = []
    for i in range(n):
        a = answers(d, i)
        path = "%s%d" % (prefix, i)
        if os.path.exists(path):
            os.unlink(path)
        servers.append(await asyncio.start_unix_server(
            lambda r, w, a=a: serve(r, w, a, api), path=path))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


asyncio.run(main())
