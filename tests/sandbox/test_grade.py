"""Verdicts, pass rates and stdout comparison decided in the parent."""

from __future__ import annotations

from unitrl.records import Problem, TestResult
from unitrl.sandbox.grade import overall_status, stdout_matches


def test_stdout_comparison_is_line_by_line_after_trimming_trailing_whitespace():
    assert stdout_matches("1\n2\n", "1  \n2\n\n")
    assert not stdout_matches("1\n2\n", "1\n")  # no prefix match
    assert not stdout_matches("1\n", "1\n2\n")
    assert not stdout_matches("a b", "a  b")  # inner whitespace matters


def test_float_tolerance_only_when_asked():
    assert not stdout_matches("0.3333333", "0.3333334")
    assert stdout_matches("0.3333333", "0.3333334", float_tolerance=1e-6)
    assert not stdout_matches("0.33", "0.34", float_tolerance=1e-6)
    assert not stdout_matches("x 0.3", "y 0.3", float_tolerance=1e-6)


def test_overall_status_priorities():
    t = TestResult
    assert overall_status([t("pass"), t("pass")]) == "pass"
    assert overall_status([t("pass"), t("infrastructure-error"), t("fail")]) == "infrastructure-error"
    assert overall_status([t("fail"), t("timeout"), t("timeout")]) == "timeout"
    assert overall_status([]) == "no-tests"


def test_pass_rate_is_over_the_problems_tests(tmp_path):
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.sandbox.grade import grade_programs

    p = Problem(
        "half", "", "f", ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 0", "assert f(4) == 0"]
    )
    with Sandbox(SandboxConfig(workers=1)) as sb:
        [r] = grade_programs(sb, [(p, "def f(x):\n    return x if x < 3 else 5\n", 0)])
    assert (
        r.pass_rate == 0.5
        and not r.passed
        and [t.status for t in r.tests] == ["pass", "pass", "fail", "fail"]
    )


def test_failed_assert_in_a_whole_snippet_test_is_a_fail_not_an_error():
    from unitrl.sandbox import Sandbox, SandboxConfig
    from unitrl.sandbox.grade import grade_programs

    p = Problem(
        "snip",
        "",
        "f",
        ["def check(c):\n    assert c(1) == 2\ncheck(f)", "def check(c):\n    c(None).missing\ncheck(f)"],
    )
    with Sandbox(SandboxConfig(workers=1)) as sb:
        [r] = grade_programs(sb, [(p, "def f(x):\n    return 0\n", 0)])
    assert [t.status for t in r.tests] == ["fail", "error"]
