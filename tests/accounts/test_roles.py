"""Roles are ordered by rank, not by spelling."""

from __future__ import annotations

import pytest

from accounts import Role, User


def test_roles_are_ordered_viewer_operator_admin() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert sorted([Role.ADMIN, Role.VIEWER, Role.OPERATOR]) == [
        Role.VIEWER, Role.OPERATOR, Role.ADMIN]
    assert max(Role) is Role.ADMIN
    assert Role.ADMIN >= Role.ADMIN and Role.OPERATOR <= Role.ADMIN
    assert not Role.ADMIN < Role.VIEWER  # as strings, "admin" < "viewer"


def test_allows() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.ADMIN.allows(Role.VIEWER)
    assert Role.OPERATOR.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.OPERATOR.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert [r.value for r in Role if r.allows(Role.OPERATOR)] == ["operator", "admin"]
    assert User("ann", Role.VIEWER, "token").allows(Role.VIEWER)
    assert not User("ann", Role.VIEWER, "token").allows(Role.OPERATOR)


def test_a_role_is_its_name_but_never_compared_with_a_string() -> None:
    assert Role("operator") is Role.OPERATOR and str(Role.ADMIN) == "admin"
    with pytest.raises(TypeError):
        _ = Role.ADMIN < "viewer"
    with pytest.raises(TypeError):
        _ = Role.ADMIN < "viewer"
