"""The socket watch: the TCP listeners of a set of processes, seen while a block runs, must all be on loopback.

Every test that starts a server (a Beam job on any runner, a cluster, the review app, Label Studio, Airflow) runs
it under `loopback_only`; a listener elsewhere fails the test with the process that opened it. The sockets are
read from /proc (a process's socket inodes, then /proc/net/tcp and tcp6) five times a second while the block
runs, so a server that lives for less than that can be missed: Beam's servers live for the whole job.
"""
import contextlib
import glob
import ipaddress
import os
import threading


def address(hex_address):
    """An address of /proc/net/tcp{,6} ('0100007F': 127.0.0.1, in the kernel's byte order) as an ip_address; an
    IPv4-mapped IPv6 address (a dual-stack socket bound to 127.0.0.1) as its IPv4 address."""
    raw = bytes.fromhex(hex_address)
    found = ipaddress.ip_address(b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))
    return getattr(found, 'ipv4_mapped', None) or found


def is_loopback(hex_address):
    return address(hex_address).is_loopback


def listening_sockets(pids):
    """{(local address hex, port, pid)} of the TCP sockets in LISTEN state that the processes `pids` own."""
    owners = {}
    for pid in pids:
        for fd in glob.glob(f'/proc/{pid}/fd/*'):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith('socket:['):
                owners[target[8:-1]] = pid
    found = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table, encoding='ascii') as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == '0A' and fields[9] in owners:  # 0A: LISTEN
                    hex_address, port = fields[1].split(':')
                    found.add((hex_address, int(port, 16), owners[fields[9]]))
    return found


def command_line(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return ''


def descendants(pids):
    """`pids` and every process below them."""
    children = {}
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat, encoding='ascii') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split('/')[2]))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def this_process_tree():
    """This test process and its children (a job's SDK workers, a server it started)."""
    return descendants([os.getpid()])


def exposed(sockets):
    """The lines naming each socket of (address hex, port, pid, command line) that listens outside loopback."""
    return sorted(f'{command[:160]} (pid {pid}) listens on {address(hex_address)}:{port}'
                  for hex_address, port, pid, command in sockets if not is_loopback(hex_address))


def assert_loopback(sockets, what='a process'):
    """Fails, naming each process, when one of `sockets` listens outside loopback."""
    found = exposed(sockets)
    assert not found, f'{what} listens outside loopback:\n' + '\n'.join(found)


def snapshot(pids):
    """{(address hex, port, pid, command line)} of what `pids` listen on now."""
    return {(hex_address, port, pid, command_line(pid)) for hex_address, port, pid in listening_sockets(pids)}


@contextlib.contextmanager
def every_interval(look, interval_s=0.5):
    """Calls look() every `interval_s` while the block runs, from a thread of its own."""
    done = threading.Event()

    def watch():
        while not done.is_set():
            look()
            done.wait(interval_s)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def watched(processes=this_process_tree):
    """Yields the set of (address hex, port, pid, command line) that processes() listen on while the block runs."""
    seen = set()
    with every_interval(lambda: seen.update(snapshot(processes())), interval_s=0.2):
        yield seen


@contextlib.contextmanager
def loopback_only(processes=this_process_tree, what='a process'):
    """Watches processes()' listeners while the block runs, then fails by name if any listened outside loopback.
    Yields the set of sockets seen, so a test can also check that it saw the server it meant to watch."""
    with watched(processes) as seen:
        yield seen
    assert_loopback(seen, what)


@contextlib.contextmanager
def beam_job_on_loopback(servers=4):
    """The socket watch over this process and its children while a Beam job runs in it (the DirectRunner's
    multi-process mode, the portable runner): nothing outside loopback, and at least `servers` listeners of this
    process seen (Beam's control, data, state and logging servers), so that the watch saw the job's servers."""
    with loopback_only(this_process_tree, 'a Beam job') as seen:
        yield seen
    ours = {port for _, port, pid, _ in seen if pid == os.getpid()}
    assert len(ours) >= servers, f'the watch saw {len(ours)} listeners of the job, not Beam\'s {servers}: {seen}'
