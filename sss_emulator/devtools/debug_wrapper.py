"""Runs one server-side script under debugpy and starts it only once a debugger has attached.

Started by :mod:`sss_emulator.devtools.debug` as a plain file (it imports nothing of
sss_emulator, so the script's interpreter needs only debugpy)::

    python -X frozen_modules=off debug_wrapper.py STATUS_FD HOST PORT SCRIPT [ARGS...]

It reports on the inherited pipe STATUS_FD, one line each, then closes it:
``LISTENING <host> <port>`` once a client can connect, ``ATTACHED`` once the client finished
its configuration (``wait_for_client`` returns on ``configurationDone``, so breakpoints set by
the IDE are in place). End of file without ``ATTACHED`` means the wrapper failed (its stderr
says why). The script then sees what a direct run shows it: ``sys.argv[0]`` and ``__file__``
are its path, ``__name__`` is ``"__main__"``, ``sys.path[0]`` its folder.
"""

import os
import socket
import sys


def main() -> None:
    status_fd, host, port, script, *args = sys.argv[1:]
    status = os.fdopen(int(status_fd), "w", buffering=1)
    # The in-process adapter needs no second (daemonised) process that would inherit our pipes;
    # it binds on a background thread and hangs silently on a bind error, so bind once first.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            sys.stderr.write(f"cannot listen on {host}:{port}: {exc.strerror or exc}\n")
            sys.exit(1)
    try:
        import debugpy
    except ImportError:
        sys.stderr.write(f"debugpy is not installed for {sys.executable}\n")
        sys.exit(1)
    debugpy.configure(subProcess=False)
    real_host, real_port = debugpy.listen((host, int(port)), in_process_debug_adapter=True)
    status.write(f"LISTENING {real_host} {real_port}\n")
    debugpy.wait_for_client()
    status.write("ATTACHED\n")
    status.close()

    import runpy

    script = os.path.abspath(script)
    sys.argv[:] = [script, *args]
    sys.path[0] = os.path.dirname(script)
    _trim_tracebacks(script)
    runpy.run_path(script, run_name="__main__")


def _trim_tracebacks(script: str) -> None:
    """An uncaught exception's traceback starts at the script, as in a direct run.

    The exception still propagates, so the IDE's "Uncaught Exceptions" breakpoint stops on it.
    """
    original = sys.excepthook

    def hook(kind, value, tb):  # type: ignore[no-untyped-def]
        frame = tb
        while frame is not None and frame.tb_frame.f_code.co_filename != script:
            frame = frame.tb_next
        if frame is not None:
            value = value.with_traceback(frame)
        original(kind, value, frame or tb)

    sys.excepthook = hook


if __name__ == "__main__":
    main()
