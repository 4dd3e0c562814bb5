"""The engine-neutral privilege model: structured facts, rendering, and effective expansion."""

from __future__ import annotations

from accounts_sync.privileges import ALL, EffectiveGrant, Grants, GrantSet, Scope, effective, parse_token


def test_structured_facts_render_the_same_text_snapshot() -> None:
    grants = Grants(["alice"])
    grants.grant("alice", Scope.of("table", "shop", "orders"), "SELECT", grantable=True)
    grants.add("alice", Scope.of("table", "shop", "orders"), "DENY UPDATE")
    grants.member("alice", "r_app", scope="member of", admin=True)
    grants.add("bob", Scope("global"), "SELECT")  # not wanted: ignored
    out = grants.result()
    assert out == {
        "alice": {
            "member of": ["r_app WITH ADMIN OPTION"],
            "table shop.orders": ["DENY UPDATE", "SELECT WITH GRANT OPTION"],
        }
    }
    facts = out.structured["alice"]
    assert {(g.privilege, g.grantable, g.denied) for g in facts.grants} == {
        ("SELECT", True, False),
        ("UPDATE", False, True),
    }


def test_a_name_with_dots_keeps_its_parts_apart() -> None:
    grants = Grants(["a"])
    grants.grant("a", Scope.of("table", "db.x", "t"), "SELECT")
    (grant,) = grants.result().structured["a"].grants
    assert grant.scope.path == ("db.x", "t")


def test_repeated_memberships_merge_their_options() -> None:
    grants = Grants(["u"])
    grants.member("u", "r", scope="member of", inherit=False)
    grants.member("u", "r", scope="member of", admin=True)
    assert grants.result()["u"] == {"member of": ["r WITH ADMIN OPTION WITH INHERIT FALSE"]}


def test_parse_token_reads_flags_not_names() -> None:
    assert parse_token("DENY SELECT WITH GRANT OPTION") == ("SELECT", True, True, "GRANT")
    assert parse_token("CREATE SESSION WITH ADMIN OPTION") == ("CREATE SESSION", True, False, "ADMIN")
    assert parse_token("GRANT OPTION") == ("GRANT OPTION", False, False, "GRANT")


def _facts() -> Grants:
    g = Grants(["alice", "bob", "r_app", "r_read", "r_admin", "PUBLIC", "root"])
    table = Scope.of("table", "shop", "orders")
    g.grant("r_read", table, "SELECT")
    g.grant("r_admin", table, "DELETE")
    g.grant("PUBLIC", Scope.of("database", "shop"), "CONNECT")
    g.grant("alice", table, "INSERT")
    g.member("alice", "r_app", scope="member of")
    g.member("r_app", "r_read", scope="member of")
    g.member("alice", "r_admin", scope="member of", inherit=False)
    g.member("bob", "r_read", scope="member of", inherit=False, set=False)
    return g


def test_effective_follows_role_chains_with_their_path() -> None:
    out = effective(_facts().result().structured, superusers=["root"], public="PUBLIC")
    alice = {(e.privilege, e.via, e.needs_set_role) for e in out["alice"]}
    assert ("INSERT", (), False) in alice
    assert ("SELECT", ("r_app", "r_read"), False) in alice
    assert ("DELETE", ("r_admin",), True) in alice  # INHERIT FALSE: only after SET ROLE
    assert ("CONNECT", ("PUBLIC",), False) in alice
    paths = {e.path for e in out["alice"]}
    assert "via r_app ← r_read" in paths and "via r_admin (after SET ROLE)" in paths


def test_a_membership_without_inherit_or_set_gives_nothing() -> None:
    out = effective(_facts().result().structured, public="PUBLIC")
    assert {e.privilege for e in out["bob"]} == {"CONNECT"}


def test_superusers_hold_everything_without_expansion() -> None:
    out = effective(_facts().result().structured, superusers=["root"], public="PUBLIC")
    assert out["root"] == {EffectiveGrant(Scope("server"), ALL, True, via=("superuser",))}
    assert next(iter(out["root"])).path == "as superuser"


def test_role_cycles_terminate() -> None:
    g = Grants(["a", "b"])
    g.member("a", "b")
    g.member("b", "a")
    g.grant("b", Scope("global"), "SELECT")
    out = effective(g.result().structured)
    assert {(e.privilege, e.via) for e in out["a"]} == {("SELECT", ("b",))}


def test_effective_tokens_name_their_cause() -> None:
    table = Scope.of("table", "shop", "orders")
    assert EffectiveGrant(table, "SELECT").token() == "SELECT"
    assert EffectiveGrant(table, "SELECT", True, via=("r_app", "r_read")).token() == (
        "SELECT WITH GRANT OPTION (via r_app ← r_read)"
    )
    assert EffectiveGrant(table, "UPDATE", denied=True, via=("r",), needs_set_role=True).token() == (
        "DENY UPDATE (via r, after SET ROLE)"
    )
    assert EffectiveGrant(Scope("server"), ALL, True, via=("superuser",)).token() == "ALL (as superuser)"


def test_accounts_holding_only_prepared_sets_have_a_shape_others_do_not() -> None:
    """`shapes` names the prepared sets of the accounts that hold nothing else: accounts of one
    shape read the same, so the sync works their snapshot out once."""
    db = GrantSet.of(Scope.of("database", "shop"), [("SELECT", False)])
    table = GrantSet.of(Scope.of("table", "shop", "t"), [("INSERT", True)])
    grants = Grants(["a", "b", "c", "d", "e"])
    grants.grant_sets([("a", db), ("b", db), ("a", table), ("b", table), ("c", db), ("d", db)])
    grants.member("c", "reporting")  # a role: the path makes it differ
    grants.grant_set("e", GrantSet.of(Scope("global"), []))  # nothing granted: no shape
    grants.add("d", "default role", "x")  # a free-form fact
    out = grants.result()
    assert out.shapes == {"a": (db, table), "b": (db, table)}
    assert out["a"] == out["b"] == {"database shop": ["SELECT"], "table shop.t": ["INSERT WITH GRANT OPTION"]}
    assert out["c"] == {"database shop": ["SELECT"], "role": ["reporting"]}
    assert out["d"] == {"database shop": ["SELECT"], "default role": ["x"]}
    assert out["e"] == {}


def test_a_fact_after_prepared_sets_keeps_the_sets_and_gets_containers_of_its_own() -> None:
    """Sets are merged once per combination and shared; an account that then gets another fact
    (a role, a single grant) keeps what its sets granted, and changes no other account."""
    db = GrantSet.of(Scope.of("database", "shop"), [("SELECT", False), ("INSERT", False)])
    grants = Grants(["a", "b", "c"])
    grants.grant_sets([("a", db), ("b", db), ("c", db)])
    grants.grant("c", Scope.of("database", "shop"), "DELETE")
    grants.grant_sets([("c", GrantSet.of(Scope.of("table", "shop", "t"), [("UPDATE", False)]))])
    grants.grant_sets([("nobody", db)])  # not wanted: ignored
    out = grants.result()
    assert out["a"] is out["b"] and out.structured["a"] is out.structured["b"]
    assert out["a"] == {"database shop": ["INSERT", "SELECT"]}
    assert out["c"] == {"database shop": ["DELETE", "INSERT", "SELECT"], "table shop.t": ["UPDATE"]}
    assert {g.privilege for g in out.structured["c"].grants} == {"DELETE", "INSERT", "SELECT", "UPDATE"}
    assert {g.privilege for g in out.structured["a"].grants} == {"INSERT", "SELECT"}
    assert set(out) == {"a", "b", "c"} and set(out.shapes) == {"a", "b"}
