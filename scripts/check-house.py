#!/usr/bin/env python3
"""scripts/check-house.py: the house rules of lib/ and reconciler/, checked.

Run by `make check-layers` (and so by CI). Exits 1 naming every file and
include that breaks a rule:

  1. Layers. A folder of lib/ is a stage; a file includes headers of its own
     folder and of the folders below it only (LAYERS). reconciler/ may
     include any lib/ header; lib/ never includes a reconciler/ one.
  2. No include circle. Modules are files without their extension
     (lib/docker/ssh.c and lib/docker/ssh.h are the module docker/ssh); a
     module depends on every module whose header one of its files includes.
     A folder's private header internal.h is part of the folder, so its
     edges are those of the files that include it. There must be no cycle.
  3. Purity. The planner and the parsing of what was observed are pure
     functions of their input: the files of PURE include no header that
     does I/O (stdio, unistd, sockets, curl, threads, ...).
  4. The map. HACKING.md names every module of lib/ (as `stage/name`), so
     that the map a newcomer reads is the house as it is.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# stage -> the stages it may include (itself always)
LAYERS = {
    'base': [],
    'source': ['base'],
    'template': ['base'],
    'manifest': ['base', 'source', 'template'],
    'docker': ['base'],
    'plan': ['base', 'source', 'manifest'],
    'run': ['base', 'source', 'template', 'manifest', 'docker', 'plan'],
    'serve': ['base', 'source', 'template', 'manifest', 'docker', 'plan', 'run'],
}
PURE = ['lib/plan']
IO_HEADERS = {
    'stdio.h', 'unistd.h', 'fcntl.h', 'dirent.h', 'poll.h', 'signal.h',
    'pthread.h', 'threads.h', 'netdb.h', 'curl/curl.h', 'git2.h',
    'libssh2.h', 'sys/socket.h', 'sys/un.h', 'sys/stat.h', 'sys/wait.h',
    'sys/inotify.h', 'sys/epoll.h', 'netinet/in.h', 'arpa/inet.h',
    'spawn.h', 'syslog.h',
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def sources():
    for top in ('lib', 'reconciler'):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in sorted(names):
                if n.endswith(('.c', '.h')):
                    yield os.path.relpath(os.path.join(dirpath, n), ROOT)


def stage_of(path):
    parts = path.split('/')
    if parts[0] == 'reconciler':
        return 'reconciler'
    return parts[1] if len(parts) > 2 else None


def resolve(path, name):
    """The repository path of a quoted include, or None if it is not ours."""
    if os.path.exists(os.path.join(ROOT, 'lib', name)):
        return 'lib/' + name
    local = os.path.join(os.path.dirname(path), name)
    if os.path.exists(os.path.join(ROOT, local)):
        return os.path.normpath(local)
    return None


def module_of(path):
    base, _ = os.path.splitext(path)
    return base


def main():
    errors = []
    edges = {}
    internal_users = {}
    files = list(sources())
    includes = {}
    for f in files:
        with open(os.path.join(ROOT, f), encoding='utf-8') as fh:
            text = fh.read()
        includes[f] = [(m.group(1), m.group(2)) for m in INCLUDE.finditer(text)]

    for f in files:
        st = stage_of(f)
        if st is None and f.startswith('lib/'):
            errors.append('%s: lib/ files live in a stage folder' % f)
            continue
        for kind, name in includes[f]:
            if kind == '<':
                if any(f.startswith(p + '/') for p in PURE) and name in IO_HEADERS:
                    errors.append('%s: includes <%s>, but %s must stay pure (no I/O)'
                                  % (f, name, os.path.dirname(f)))
                continue
            target = resolve(f, name)
            if target is None:
                errors.append('%s: cannot find "%s"' % (f, name))
                continue
            tst = stage_of(target)
            if st == 'reconciler':
                pass
            elif tst == 'reconciler':
                errors.append('%s: lib/ includes the program\'s "%s"' % (f, name))
            elif tst != st and tst not in LAYERS.get(st, []):
                errors.append('%s: stage %s includes "%s" of stage %s (allowed: %s)'
                              % (f, st, name, tst, ', '.join([st] + LAYERS[st])))
            if any(f.startswith(p + '/') for p in PURE) and target in IMPURE_HEADERS:
                errors.append('%s: includes "%s", which does I/O; %s must stay pure'
                              % (f, name, os.path.dirname(f)))
            a, b = module_of(f), module_of(target)
            if b.endswith('/internal'):
                internal_users.setdefault(b, set()).add(a)
            if a != b:
                edges.setdefault(a, set()).add(b)

    # internal.h belongs to the modules that include it: its edges are theirs
    for internal, users in internal_users.items():
        for target in edges.pop(internal, set()):
            for u in users:
                if u != target:
                    edges.setdefault(u, set()).add(target)
        for u in users:
            edges.get(u, set()).discard(internal)

    # cycles (iterative DFS, reporting each cycle once)
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {}
    seen_cycles = set()
    for start in sorted(edges):
        if colour.get(start, WHITE) != WHITE:
            continue
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = BLACK
                stack.pop()
                path.pop()
                continue
            c = colour.get(nxt, WHITE)
            if c == GREY:
                cyc = path[path.index(nxt):] + [nxt]
                key = frozenset(cyc)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    errors.append('include circle: ' + ' -> '.join(cyc))
            elif c == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append((nxt, iter(sorted(edges.get(nxt, ())))))

    try:
        with open(os.path.join(ROOT, 'HACKING.md'), encoding='utf-8') as fh:
            hacking = fh.read()
        for m in sorted({module_of(f) for f in files if f.startswith('lib/')}):
            name = m[len('lib/'):]
            if name.endswith('/internal'):
                name += '.h'
            if '`' + name not in hacking and '`lib/' + name not in hacking:
                errors.append('HACKING.md: module %s is missing from the map' % name)
    except OSError as e:
        errors.append('HACKING.md: %s' % e)

    for e in errors:
        print('check-house: ' + e, file=sys.stderr)
    if errors:
        return 1
    print('check-house: %d files, %d modules: layers, purity and include graph ok'
          % (len(files), len({module_of(f) for f in files})))
    return 0


# Our own headers that wrap I/O: the pure folders must not include them.
IMPURE_HEADERS = {
    'lib/docker/docker.h', 'lib/docker/ssh.h', 'lib/docker/registry.h',
    'lib/source/git.h', 'lib/run/converge.h', 'lib/run/state.h',
    'lib/run/watch.h', 'lib/run/checks.h',
}

if __name__ == '__main__':
    sys.exit(main())
