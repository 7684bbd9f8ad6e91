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
