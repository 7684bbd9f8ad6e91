"""The sss_backend fixture: seed the stand-in, then see what a script did to it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_seed_run_and_inspect(pytester: pytest.Pytester) -> None:
    """Model and records go in from Python; inserts, calls, mails and queries come out."""
    bin_dir = pytester.path / "scripts"
    bin_dir.mkdir()
    shutil.copy2(REPO / "sample_scripts" / "register_guitar.py", bin_dir)
    (pytester.path / "form.json").write_text(
        '{"name": "Telecaster", "price": "999.9", "manufacturer": "Fender", '
        '"notify": "shop@example.com"}')
    pytester.makeini("[pytest]\nsss_bin_dirs = scripts\n")
    pytester.makepyfile(test_register='''
        def test_register(sss, sss_backend):
            sss_backend.add_model({
                "Manufacturer": {},
                "Guitar": {"recommended_properties": {"price": {"datatype": "DOUBLE"},
                                                      "Manufacturer": None}},
            })
            sss_backend.add_records([{"name": "Fender", "parents": ["Manufacturer"]}])
            assert sss_backend.changes["inserted"] == []
            res = sss.run_server_side_script("register_guitar.py", files={"-p0": "form.json"})
            assert res.code == 0, res.report()
            inserted = sss_backend.changes["inserted"]
            assert [e["name"] for e in inserted] == ["Telecaster"] == [
                e["name"] for e in res.changes["inserted"]]
            (guitar,) = sss_backend.query("FIND Guitar WITH price > 500")
            assert guitar.name == "Telecaster"
            assert sss_backend.query("FIND Guitar WITH price > 1000") == []
            assert [c["method"] for c in sss_backend.calls] == ["GET", "POST"]
            assert [m["subject"] for m in sss_backend.mails] == ["New guitar: Telecaster"]
            assert sss_backend.url.startswith("http://127.0.0.1:")
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-q")
    result.assert_outcomes(passed=1)


def test_without_stand_in_the_fixture_fails_clearly(pytester: pytest.Pytester) -> None:
    """An emulator built with stand_in=False has no backend to seed: one clear failure line."""
    pytester.makepyfile(test_plain='''
        import pytest

        @pytest.fixture
        def sss(sss_factory):
            return sss_factory(stand_in=False)

        def test_needs_backend(sss_backend):
            pass
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-q")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*sss_backend needs the stand-in*"])


def test_permissions_in_one_line_and_a_refusal(pytester: pytest.Pytester) -> None:
    """The users file names bob; the marker runs the script as bob: the stand-in refuses his
    update of the admin's record as the server would, until an ACL line grants it."""
    bin_dir = pytester.path / "scripts"
    bin_dir.mkdir()
    script = bin_dir / "rename.py"
    script.write_text(
        "#!/usr/bin/env python3\nimport sys\nimport linkahead as db\n"
        "db.configure_connection(auth_token=sys.argv[1].split('=', 1)[1])\n"
        "rec = db.execute_query('FIND Guitar', unique=True)\n"
        "rec.description = 'renamed by ' + db.Info().user_info.name\n"
        "try:\n    rec.update()\nexcept db.TransactionError as err:\n"
        "    print('refused' if err.has_error(db.AuthorizationError) else err)\n"
        "    sys.exit(3)\nprint('updated')\n")
    script.chmod(0o755)
    (pytester.path / "users.yaml").write_text(
        "users:\n  bob: {password: bob-pw, roles: [guest]}\n"
        "roles:\n  guest: {permissions: [SCRIPTING:EXECUTE:rename.py]}\n")
    pytester.makeini("[pytest]\nsss_bin_dirs = scripts\nsss_users = users.yaml\n")
    pytester.makepyfile(test_acl='''
        import pytest

        @pytest.mark.sss(user="bob")
        def test_bob_may_not_change_the_admins_record(sss, sss_backend):
            sss_backend.add_records([{"name": "Strat", "parents": ["Guitar"]}])
            res = sss.run_server_side_script("rename.py")
            assert (res.code, res.stdout) == (3, "refused\\n"), res.report()
            assert sss_backend.changes["updated"] == []

        @pytest.mark.sss(user="bob")
        def test_an_acl_line_lets_him(sss, sss_backend):
            sss_backend.add_records([{"name": "Strat", "parents": ["Guitar"]}])
            sss_backend.grant("FIND Guitar", "UPDATE:*", user="bob", priority=True)
            res = sss.run_server_side_script("rename.py")
            assert (res.code, res.stdout) == (0, "updated\\n"), res.report()
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-q")
    result.assert_outcomes(passed=2)
