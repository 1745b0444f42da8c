"""A warm worker: the TensorFlow jobs of a local run start without importing it.

Importing Keras and TensorFlow takes 3-5 s, as long as training a small child
for several epochs, and a search runs one ``bionas train-child`` process per
child. When Snakemake runs the jobs on this machine (``--cores N``, not a
cluster executor), the workflow starts one worker for the run
(``workflow/rules/common.smk``, setting ``training.warm_worker``):

* the worker (``python -m bionas.worker SOCKET PARENT_PID``) listens on a Unix
  socket, then imports Keras, TensorFlow and the training code, but never
  starts TensorFlow's runtime;
* a job whose command is one of :data:`COMMANDS` finds the socket in the
  environment variable ``BIONAS_WORKER`` and sends its arguments, working
  directory, environment, umask and its stdin, stdout and stderr (the file
  descriptors themselves) to the worker;
* the worker forks a trainer per request. The trainer takes over the job's
  descriptors, directory and environment, starts a fresh TensorFlow runtime
  (so ``--threads`` applies and results are those of a fresh process, to the
  last bit), runs the command and sends back its exit status, which the job
  exits with.

The job process stays the job: Snakemake waits for it, its log is the
trainer's stderr, and its exit status is the trainer's. A signal the job gets
(SIGTERM, SIGINT, SIGHUP) is passed on to the trainer; a job killed with
SIGKILL closes its end of the socket and the trainer ends at once, before it
renames anything more into place (outputs are written atomically, so it leaves
at most a temporary that the next writer removes). The worker ends when the
run's Snakemake process ends (checked every second), or when stopped.

When there is no worker (a cluster job, ``training.warm_worker: false``, the
command run by hand), or the worker cannot be reached or is not ready, the job
runs the command itself, as it always could. Snakemake's ``benchmark:`` files
then measure the job; with the worker they measure the job process only, and
the trainer logs its own CPU time and peak memory at the end of the job's log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

#: subcommands that import TensorFlow and go through the worker when there is one
COMMANDS = frozenset({"train-child", "continue-child", "evaluate", "compare-motifs", "predict"})
ENV = "BIONAS_WORKER"
#: environment variables read when TensorFlow or Keras is imported: a job whose
#: values differ from the worker's runs the command itself
IMPORT_TIME_ENV = ("KERAS_BACKEND", "KERAS_HOME", "TF_ENABLE_ONEDNN_OPTS", "PYTHONHASHSEED")
_MAX_MESSAGE = 1 << 20

log = logging.getLogger("bionas.worker")


# ---------------------------------------------------------------------------
# messages: one JSON object per line


def _send(conn: socket.socket, obj: dict, fds: list[int] | None = None) -> None:
    data = (json.dumps(obj) + "\n").encode()
    if fds:
        socket.send_fds(conn, [data], fds)
    else:
        conn.sendall(data)


def _receive(conn: socket.socket, with_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None at end of file) and the descriptors sent with its first bytes."""
    chunks: list[bytes] = []
    fds: list[int] = []
    size = 0
    while True:
        if with_fds and not fds:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, with_fds)
        else:
            data = conn.recv(65536)
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        chunks.append(data)
        size += len(data)
        if data.endswith(b"\n") or size > _MAX_MESSAGE:
            break
    return json.loads(b"".join(chunks)), list(fds)


# ---------------------------------------------------------------------------
# the job's side


def run_remote(argv: list[str]) -> int | None:
    """Run ``bionas ARGV`` in the worker named by ``$BIONAS_WORKER``; its exit status.

    None when there is no worker to run it (none named, not reachable, not
    ready, or started with other import-time settings): the caller runs the
    command itself.
    """
    path = os.environ.get(ENV)
    if not path or sys.platform != "linux":
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        umask = os.umask(0)
        os.umask(umask)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        _send(conn, request, [0, 1, 2])
        answer, _ = _receive(conn)
    except (OSError, ValueError):
        conn.close()
        return None
    if not answer or "pid" not in answer:
        conn.close()
        return None
    pid = int(answer["pid"])

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            done, _ = _receive(conn)
            break
        except InterruptedError:
            continue
        except (OSError, ValueError):
            done = None
            break
    conn.close()
    if done is None or "status" not in done:
        print(
            f"bionas {argv[0] if argv else ''}: the worker's process {pid} ended without an "
            "exit status (killed?)",
            file=sys.stderr,
        )
        return 1
    return int(done["status"])


# ---------------------------------------------------------------------------
# the worker's side


def _trainer(conn: socket.socket, worker_env: dict[str, str]) -> None:
    """In the forked process: take over the job, run its command, report, exit."""
    try:
        request, fds = _receive(conn, with_fds=3)
        if request is None or len(fds) != 3:
            os._exit(0)
        if any(request["env"].get(k) != worker_env.get(k) for k in IMPORT_TIME_ENV):
            _send(conn, {"refused": "other import-time settings"})
            os._exit(0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(int(request["umask"]))
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        _send(conn, {"pid": os.getpid()})
    except BaseException:  # noqa: BLE001 - the job runs the command itself instead
        os._exit(0)

    def watch() -> None:  # the job closed its end: it was killed, so end now
        with contextlib.suppress(OSError):
            conn.recv(1)
        os._exit(137)

    threading.Thread(target=watch, daemon=True).start()
    from bionas.search import guard

    # a child that ends itself at its job's limits (bionas.search.guard) reports its status
    guard.EXIT_HOOKS.append(lambda status: _send(conn, {"status": int(status)}))
    argv = [str(a) for a in request["argv"]]
    from bionas.errors import Terminated

    try:
        from bionas.commands.registry import run_command

        status = run_command(argv)
    except SystemExit as err:
        status = err.code if isinstance(err.code, int) else (0 if err.code is None else 2)
    except KeyboardInterrupt as err:  # SIGINT before run_command took the signals over
        name = next((a for a in argv if not a.startswith("-")), "")
        print(f"bionas {name}: interrupted; no output was left half-written", file=sys.stderr)
        status = 143 if isinstance(err, Terminated) else 130
    except BaseException:  # noqa: BLE001 - reported like an uncaught error of a process
        traceback.print_exc()
        status = 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"bionas worker: ran in process {os.getpid()}: {usage.ru_utime + usage.ru_stime:.1f} s "
        f"CPU, peak RSS {usage.ru_maxrss / 1024:.0f} MB",
        file=sys.stderr,
    )
    with contextlib.suppress(Exception):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        _send(conn, {"status": int(status)})
    os._exit(int(status))


def _warm_up() -> None:
    """Import what the commands need, without starting TensorFlow's runtime."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    import bionas.commands.compare_motifs  # noqa: F401
    import bionas.commands.evaluate  # noqa: F401
    import bionas.commands.train_child  # noqa: F401
    import bionas.search.builder  # noqa: F401
    import bionas.search.final  # noqa: F401
    import bionas.search.train  # noqa: F401


def serve(path: str, parent: int, poll: float = 1.0) -> int:
    """Listen on ``path`` until process ``parent`` ends or SIGTERM; fork a trainer per job."""
    from bionas.io import pid_alive

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener.bind(path)
    listener.listen(64)  # jobs that come during the imports wait here
    listener.settimeout(poll)
    try:
        _warm_up()
        worker_env = dict(os.environ)
        print(f"bionas worker {os.getpid()}: ready on {path}", file=sys.stderr, flush=True)
        served = 0
        while not stop.is_set() and pid_alive(parent):
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if stop.is_set():
                    break
                raise
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.settimeout(None)
                _trainer(conn, worker_env)
            conn.close()
            served += 1
        print(f"bionas worker {os.getpid()}: {served} jobs served, ending", file=sys.stderr)
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return 0


# ---------------------------------------------------------------------------
# starting and stopping (the workflow's onstart / onsuccess / onerror)


def start(log_path: str | os.PathLike, parent: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start a worker for the process ``parent`` (default: this one); ``(process, socket)``.

    The socket is in the temporary directory (a Unix socket path must be
    short); the worker writes to ``log_path``.
    """
    from bionas.io import pid_alive

    parent = os.getpid() if parent is None else parent
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(f"bionas-{os.getuid()}-*-*.sock"):  # of killed workers
        pid = old.name.split("-")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                old.unlink()
    path = str(tmp / f"bionas-{os.getuid()}-{parent}-{time.time_ns():x}.sock")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bionas.worker", path, str(parent)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # Ctrl-C at the terminal reaches the jobs, not the worker
        )
    return proc, path


def stop(proc: subprocess.Popen, path: str | None = None, timeout: float = 10.0) -> None:
    """End a worker started by :func:`start` (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m bionas.worker SOCKET PARENT_PID", file=sys.stderr)
        return 2
    return serve(args[0], int(args[1]))


if __name__ == "__main__":
    sys.exit(main())
