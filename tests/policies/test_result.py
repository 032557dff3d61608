from policies.result import PolicyResult


def test_ok_is_truthy_without_reasons():
    result = PolicyResult.ok()
    assert result and result.passed and result.reasons == ()


def test_fail_is_falsy_and_keeps_reasons_in_order():
    result = PolicyResult.fail("a", "b")
    assert not result
    assert result.reasons == ("a", "b")


def test_of_passes_only_without_reasons():
    assert PolicyResult.of([]) == PolicyResult.ok()
    assert PolicyResult.of(["x"]) == PolicyResult.fail("x")


def test_frozen():
    result = PolicyResult.ok()
    try:
        result.passed = False  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("PolicyResult must be immutable")
