"""``sss-emulate run`` with the server's address and mounts: scripts in the style of
linkahead-control's demo profile (examples/extroot_profile) pass as on a server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_BIN = os.path.dirname(sys.executable)


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            path: str | None = None) -> subprocess.CompletedProcess[str]:
    """``sss-emulate run …`` as a user types it, with private roots below ``cwd``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    environ.update({"SSS_WORK_ROOT": str(cwd / "work"), "SSS_SHARED_ROOT": str(cwd / "shared")})
    environ.update(env or {})
    if path is not None:
        environ["PATH"] = path
    return subprocess.run([sys.executable, "-m", "sss_emulator", "run", *args], cwd=cwd,
                          env=environ, capture_output=True, text=True, timeout=120, check=False)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without the settings notes printed before a run."""
    return [line for line in done.stderr.splitlines() if not line.startswith("sss-emulate: note:")]


def system_ca_bundle() -> str:
    import certifi

    return str(certifi.where())


def test_hard_coded_address_reaches_the_stand_in_over_tls(
        tmp_path: Path, profile: Path, port_10443: int) -> None:
    """showcase.py calls https://127.0.0.1:10443 with ssl_insecure=True; a REQUESTS_CA_BUNDLE
    of the caller (which would override ssl_insecure in requests) does not get in the way."""
    done = run_cli("showcase.py", "--profile", str(profile), "--server-address",
                   f"https://127.0.0.1:{port_10443}", cwd=tmp_path,
                   env={"REQUESTS_CA_BUNDLE": system_ca_bundle()})
    assert done.returncode == 0, done.stderr
    assert "records: 0" in done.stdout
    assert "server calls: 1" in done.stderr


def test_without_the_address_the_hard_coded_client_fails(tmp_path: Path, profile: Path,
                                                         port_10443: int) -> None:
    """The failure the issue reports, kept as the contrast: nothing listens on 10443."""
    done = run_cli("showcase.py", "--profile", str(profile), cwd=tmp_path)
    assert done.returncode == 1
    assert "Connection" in done.stderr


def test_the_skeleton_ini_names_the_address(tmp_path: Path, profile: Path, port_10443: int,
                                            needs_bwrap: None) -> None:
    """--server-address ini: the profile's home ini says https://localhost:10443 with the cert
    at /opt/caosdb/cert/caosdb.cert.pem; the script trusts the ini and reaches the stand-in."""
    done = run_cli("use_ini.py", "--profile", str(profile), "--server-address", "ini",
                   "--mounts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "url: https://localhost:10443" in done.stdout
    assert "records: 0" in done.stdout


def test_script_reads_the_profiles_extroot(tmp_path: Path, profile: Path,
                                           needs_bwrap: None) -> None:
    """change_bikes.py reads /opt/caosdb/mnt/extroot/bikes/… (the profile's paths/extroot via
    its compose.mount.yaml) and stores it as a File."""
    done = run_cli("change_bikes.py", "--profile", str(profile), "--mounts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "failed bikes: B-18" in done.stdout
    assert "stored as /Bikes/2021-05-06_qc_report.csv" in done.stdout
    assert "mount namespace: /opt/caosdb/mnt/extroot <- " in done.stderr


def test_without_mounts_the_servers_paths_are_not_there(tmp_path: Path, profile: Path) -> None:
    """Opt-in: without --mounts a run is as before, and the extroot path does not exist."""
    done = run_cli("change_bikes.py", "--profile", str(profile), cwd=tmp_path)
    assert done.returncode == 1
    assert "No such file or directory: '/opt/caosdb/mnt/extroot" in done.stderr


def test_crawler_reads_the_file_it_stored_from_caosroot(tmp_path: Path, profile: Path,
                                                       needs_bwrap: None) -> None:
    """crawl.py inserts a File, then reads /opt/caosdb/mnt/caosroot/<its path>."""
    done = run_cli("crawl.py", "--profile", str(profile), "--mounts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "crawled: sample: S-1; result: 42" in done.stdout


def test_paths_and_extroot_are_the_users_to_set(tmp_path: Path, needs_bwrap: None) -> None:
    """New images: SSS_MOUNTS, --extroot and the in-container paths under /linkahead/…"""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("from my data\n")
    script = tmp_path / "bin" / "paths.py"
    script.parent.mkdir()
    script.write_text(
        "#!/usr/bin/env python3\nimport argparse, os, tempfile\nimport linkahead as db\n"
        "p = argparse.ArgumentParser(); p.add_argument('--auth-token'); a = p.parse_args()\n"
        "db.configure_connection(auth_token=a.auth_token, password_method='auth_token')\n"
        "print(open('/linkahead/extroot/x.txt').read().strip())\n"
        "src = os.path.join(tempfile.mkdtemp(), 'f.txt'); open(src, 'w').write('stored')\n"
        "f = db.File(path='/a/f.txt', file=src).insert()\n"
        "print(open('/linkahead/files' + f.path).read())\n"
        "print(os.path.exists('/opt/caosdb/mnt/extroot'))\n")
    script.chmod(0o755)
    done = run_cli("bin/paths.py", "--extroot", "data", "--extroot-path", "/linkahead/extroot",
                   "--caosroot-path", "/linkahead/files", cwd=tmp_path,
                   env={"SSS_MOUNTS": "true"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["from my data", "stored", "False"]


def test_exit_codes_and_start_failures_are_as_without_mounts(tmp_path: Path,
                                                             needs_bwrap: None) -> None:
    (tmp_path / "bin").mkdir()
    three = tmp_path / "bin" / "three.sh"
    three.write_text("#!/bin/sh\necho out; echo err >&2; exit 3\n")
    broken = tmp_path / "bin" / "broken.sh"
    broken.write_text("#!/no/such/interpreter\n")
    for script in (three, broken):
        script.chmod(0o755)
    done = run_cli("bin/three.sh", "--mounts", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (3, "out\n")
    assert "\nerr\n" in done.stderr
    plain = run_cli("bin/broken.sh", cwd=tmp_path)
    mounted = run_cli("bin/broken.sh", "--mounts", cwd=tmp_path)
    assert mounted.returncode == plain.returncode == 125
    assert "check its shebang line" in mounted.stderr


def test_a_taken_port_is_one_line_naming_it_and_its_holder(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        (tmp_path / "hello.sh").write_text("#!/bin/sh\necho hi\n")
        (tmp_path / "hello.sh").chmod(0o755)
        done = run_cli("hello.sh", "--server-address", f"https://127.0.0.1:{port}",
                       cwd=tmp_path)
    finally:
        holder.close()
    assert done.returncode == 125
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"Port {port} on 127.0.0.1 is taken by pid {os.getpid()} " in lines[0]
    assert "run without --server-address" in lines[0]
    assert done.stdout == ""


def test_without_bubblewrap_the_fallback_makes_the_same_mounts(tmp_path: Path,
                                                                 profile: Path) -> None:
    """No bwrap on PATH: nsexec (standard library, unshare + exec) gives the script the same
    paths; the exit code passes through."""
    done = run_cli("change_bikes.py", "--profile", str(profile), "--mounts", cwd=tmp_path,
                   path=PYTHON_BIN)
    assert done.returncode == 0, done.stderr
    assert "failed bikes: B-18" in done.stdout
    crawl = run_cli("crawl.py", "--profile", str(profile), "--mounts", cwd=tmp_path,
                    path=PYTHON_BIN)
    assert crawl.returncode == 0, crawl.stderr
    assert "crawled: sample: S-1; result: 42" in crawl.stdout
    (tmp_path / "three.py").write_text(
        "#!/usr/bin/env python3\nimport sys\ntry:\n    open('/opt/caosdb/mnt/extroot/x', 'w')\n"
        "except OSError as exc:\n    sys.exit(f'{exc.strerror}: 3')\n")
    (tmp_path / "three.py").chmod(0o755)
    done = run_cli("three.py", "--mounts", "--extroot", str(tmp_path), cwd=tmp_path,
                   path=PYTHON_BIN)
    assert done.returncode == 1, done.stderr  # the extroot is read-only
    assert "Read-only file system: 3" in done.stderr


def test_neither_bubblewrap_nor_namespaces_is_one_line_saying_what_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sss_emulator.connect import mounts
    from sss_emulator.errors import SetupError

    monkeypatch.setattr(mounts.shutil, "which", lambda name: None)
    monkeypatch.setattr(mounts, "_probe", lambda command: "Operation not permitted")
    monkeypatch.setattr(mounts, "_read", lambda path: (
        "0" if path.endswith("unprivileged_userns_clone") else None))
    with pytest.raises(SetupError) as caught:
        mounts.check_namespaces()
    assert caught.value.message == (
        "--mounts needs bubblewrap (apt-get install bubblewrap) or user namespaces, which this "
        "machine does not allow (Operation not permitted); enable them with: sudo sysctl -w "
        "kernel.unprivileged_userns_clone=1; or run without --mounts.")


def test_a_machine_without_namespaces_is_one_line_saying_what_to_enable(tmp_path: Path) -> None:
    """A bwrap that fails as on a kernel without unprivileged user namespaces."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace, likely because the "
        "kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n")
    (fake / "bwrap").chmod(0o755)
    (tmp_path / "hello.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "hello.sh").chmod(0o755)
    done = run_cli("hello.sh", "--mounts", cwd=tmp_path,
                   path=f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 125
    lines = errors(done)
    assert len(lines) == 1, done.stderr
    assert "does not let bwrap make a mount namespace (No permissions to create" in lines[0]
    assert "sysctl" in lines[0] or "--security-opt" in lines[0]
    assert "hi" not in done.stdout


@pytest.mark.parametrize("value, problem", [
    ("https://example.org:10443", "this machine only"),
    ("127.0.0.1:10443", "must look like https://127.0.0.1:10443"),
])
def test_a_bad_address_is_refused_before_anything_runs(tmp_path: Path, value: str,
                                                       problem: str) -> None:
    (tmp_path / "hello.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "hello.sh").chmod(0o755)
    done = run_cli("hello.sh", "--server-address", value, cwd=tmp_path)
    assert done.returncode == 125
    assert problem in done.stderr and "hi" not in done.stdout


def test_an_address_needs_the_stand_in(tmp_path: Path) -> None:
    (tmp_path / "hello.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "hello.sh").chmod(0o755)
    done = run_cli("hello.sh", "--no-stand-in", "--server-address", "https://127.0.0.1:10443",
                   cwd=tmp_path)
    assert done.returncode == 125
    assert errors(done) == [
        "sss-emulate: error: --server-address puts the stand-in at the server's address; it "
        "does not go with --server-url or --no-stand-in (drop one of them)."]


def test_caosroot_follows_moves(tmp_path: Path, needs_bwrap: None) -> None:
    """A File whose path an update changes moves in caosroot too."""
    script = tmp_path / "move.py"
    script.write_text(
        "#!/usr/bin/env python3\nimport argparse, os, tempfile\nimport linkahead as db\n"
        "p = argparse.ArgumentParser(); p.add_argument('--auth-token'); a = p.parse_args()\n"
        "db.configure_connection(auth_token=a.auth_token, password_method='auth_token')\n"
        "src = os.path.join(tempfile.mkdtemp(), 'x.txt'); open(src, 'w').write('moved')\n"
        "f = db.File(path='/old/x.txt', file=src).insert()\n"
        "f.path = '/new/x.txt'; f.update()\n"
        "root = '/opt/caosdb/mnt/caosroot'\n"
        "print(os.path.exists(root + '/old/x.txt'), open(root + '/new/x.txt').read())\n")
    script.chmod(0o755)
    done = run_cli("move.py", "--mounts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False moved"


def test_coverage_measures_a_script_in_the_namespace(tmp_path: Path, profile: Path,
                                                     needs_bwrap: None) -> None:
    """--coverage rewrites the script's argv and the namespace starts what it made of it."""
    pytest.importorskip("coverage")
    done = run_cli("change_bikes.py", "--profile", str(profile), "--mounts", "--coverage",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "failed bikes: B-18" in done.stdout
    assert "coverage: this run was added to" in done.stderr
    assert (tmp_path / ".coverage").is_file()


def test_the_debugger_does_not_go_with_mounts(tmp_path: Path, profile: Path) -> None:
    done = run_cli("change_bikes.py", "--profile", str(profile), "--mounts", "--debug-wait",
                   cwd=tmp_path)
    assert done.returncode == 125
    assert errors(done) == [
        "sss-emulate: error: --debug-wait does not go with --mounts: the debugger starts the "
        "script itself, outside the mount namespace (drop one of them)."]
