"""Sets up the box an executor's code block runs in, then becomes that code (stdlib only).

Run as `python -I -S _launcher.py CONFIG -- COMMAND…`, possibly inside fresh namespaces made by
`unshare`. It does here what `preexec_fn` would do in Parley's own process (unsafe there, as
Parley runs code from worker threads): it joins the block's pids cgroup, makes every mount
read-only but the writable folders, sets resource limits, drops every capability and then
execs the command. In a new PID namespace it stays as the namespace's init: when the command
ends (or the wall-clock guard fires) it exits, and the kernel kills everything left inside.

CONFIG is JSON: `limits` (name -> value), `cgroup` (a folder or null), `writable` (folders, or
null to leave mounts alone), `guard` (seconds before the init gives up, or null).
"""

import ctypes
import json
import os
import resource
import signal
import sys

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC = 32, 1024, 2048, 4096, 16384
_MS_RELATIME = 1 << 21
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 24, 38
_LIMITS = {"cpu": resource.RLIMIT_CPU, "memory": resource.RLIMIT_AS, "file_size": resource.RLIMIT_FSIZE,
           "processes": resource.RLIMIT_NPROC, "open_files": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE}
_libc = ctypes.CDLL(None, use_errno=True)


def fail(message):
    os.write(2, f"parley sandbox: {message}\n".encode())
    os._exit(125)


def mount(source, target, flags):
    if _libc.mount(source, target.encode(), None, flags, None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), target)


def mount_points():
    """Every mount point this process sees, from /proc/self/mountinfo (octal escapes undone)."""
    with open("/proc/self/mountinfo", "rb") as lines:
        points = [line.split()[4] for line in lines]
    return [p.decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape") for p in points]


def read_only(writable):
    """Every mount read-only, except bind mounts of the `writable` folders (this mount namespace only)."""
    for folder in writable:
        mount(folder.encode(), folder, _MS_BIND | _MS_REC)
    kept = {
        os.ST_NOSUID: _MS_NOSUID, os.ST_NODEV: _MS_NODEV, os.ST_NOEXEC: _MS_NOEXEC, os.ST_NOATIME: _MS_NOATIME,
        os.ST_NODIRATIME: _MS_NODIRATIME, os.ST_RELATIME: _MS_RELATIME,
    }
    for point in mount_points():
        if any(point == w or point.startswith(w.rstrip("/") + "/") for w in writable):
            continue
        try:
            flags = os.statvfs(point).f_flag
        except OSError:
            continue  # hidden under another mount: what is on top of it is remounted instead
        # a remount must keep the locked flags (nosuid, nodev…) or a user namespace refuses it
        extra = sum(bit for st, bit in kept.items() if flags & st)
        try:
            mount(None, point, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | extra)
        except OSError as error:
            if point == "/" or not os.path.exists(point):
                raise
            raise OSError(error.errno, f"cannot make {point} read-only: {error.strerror}") from None


def drop_privileges():
    """No capability survives the exec, and setuid programs cannot give any back."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as file:
            last = int(file.read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails without CAP_SETPCAP: nothing to drop then
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty (two 32-bit halves)
    _libc.capset(header, data)
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def processes_of(uid):
    """How many processes `uid` has now."""
    count = 0
    for entry in os.listdir("/proc"):
        try:
            count += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
        except OSError:
            pass
    return count


def set_limits(limits):
    for name, value in limits.items():
        soft = hard = int(value)
        if name == "processes" and os.geteuid() != 0:
            # not root, not even in a user namespace of our own (there the count starts afresh):
            # RLIMIT_NPROC counts every process of the user, so the block's allowance goes on top
            soft = hard = soft + processes_of(os.geteuid())
        if name == "cpu":
            hard = soft + 1  # SIGXCPU first, SIGKILL a second later
        current = resource.getrlimit(_LIMITS[name])[1]
        if current != resource.RLIM_INFINITY:  # a lower limit set around Parley stays
            hard = min(hard, current)
            soft = min(soft, hard)
        resource.setrlimit(_LIMITS[name], (soft, hard))


def become(command, limits):
    drop_privileges()
    set_limits(limits)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        os.write(2, f"parley sandbox: cannot run {command[0]}: {error.strerror}\n".encode())
        os._exit(127)


def supervise(command, limits, guard):
    """As a PID namespace's init: run the command as a child, reap orphans, exit with its status."""
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        become(command, limits)
    if guard:
        signal.signal(signal.SIGALRM, lambda *_: os._exit(137))
        signal.alarm(int(guard) + 1)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(125)
        if pid == child:
            os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main():
    config = json.loads(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1:]
    try:
        if config.get("cgroup"):
            with open(os.path.join(config["cgroup"], "cgroup.procs"), "w") as procs:
                procs.write("0")
        if config.get("writable") is not None:
            read_only(config["writable"])
            os.chdir(os.getcwd())  # onto the writable bind mount, not the folder now under it
    except OSError as error:
        fail(str(error))
    if os.getpid() == 1:
        supervise(command, config["limits"], config.get("guard"))
    become(command, config["limits"])


if __name__ == "__main__":
    main()
