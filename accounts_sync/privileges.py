"""The privilege model shared by the four engines' adapters.

An adapter records what the server grants as structured facts, never as text to be parsed later:

- `Grant`: a privilege on a `Scope` (kind + path of names), with the grant option and SQL
  Server's DENY as flags. Ownership is the privilege `OWNER`.
- `Membership`: an account's membership in a role, with the engine's options: admin option,
  whether the role's privileges flow to the member without `SET ROLE` (`inherit`), whether the
  member may `SET ROLE` to it (`set`), whether it is a default role, and the grantor.

`Grants` collects both per account. `result()` renders the canonical text snapshot
(`{scope: [token]}`, what is hashed, diffed and shown); `structured()` keeps the facts for the
queryable store and for `effective()`, which expands memberships into the privileges an account
actually holds, each with the path of roles it came through.

Names are data: a name may contain dots, spaces or anything else, so the structured form keeps
each part of a path apart; only the rendered text joins them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

Permissions = dict[str, list[str]]

GRANT_OPTION = " WITH GRANT OPTION"
ADMIN_OPTION = " WITH ADMIN OPTION"
DENY = "DENY "
# Scope kinds that cover everything on the server (a grant there applies to every object).
SERVER_WIDE = frozenset({"global", "server", "system"})


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """Where a privilege applies: `Scope("table", "shop", "orders")`; `Scope("global")`."""

    kind: str
    path: tuple[str, ...] = ()

    @classmethod
    def of(cls, kind: str, *path: str) -> Scope:
        return cls(kind, tuple(str(p) for p in path))

    def render(self) -> str:
        return self.kind if not self.path else f"{self.kind} {'.'.join(self.path)}"

    @property
    def target(self) -> str:
        """The dotted object name ('' for server-wide scopes), as `who_can --on` matches it."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One privilege on one scope; the grant option and DENY are flags, never part of the name."""

    scope: Scope
    privilege: str
    grantable: bool = False
    denied: bool = False
    # Which option word the engine uses for "may pass it on" (ADMIN for Oracle system privileges).
    option: str = "GRANT"

    def token(self) -> str:
        text = (DENY if self.denied else "") + self.privilege
        return text + (f" WITH {self.option} OPTION" if self.grantable else "")


@dataclass(frozen=True, slots=True, order=True)
class Membership:
    """An account's membership in `role`.

    `inherit`: the role's privileges are the member's without `SET ROLE` (PostgreSQL INHERIT,
    a MySQL/MariaDB default role, any SQL Server or Oracle role granted as default).
    `set`: the member may switch to the role (PostgreSQL SET option; MySQL/MariaDB/Oracle
    `SET ROLE`). A membership with neither gives no privileges (PostgreSQL 16+ admin-only grants).
    """

    role: str
    scope: str = "role"  # the snapshot scope it renders into ("member of", "server role", ...)
    admin: bool = False
    inherit: bool = True
    set: bool = True
    default: bool = False
    grantor: str = ""
    # The name the snapshot shows when `role` is a qualified identity (SQL Server `[db].[role]`).
    label: str = ""
    # A membership the server gives everyone it lets in (SQL Server `public`): followed by
    # `effective()`, not written into the snapshot.
    implicit: bool = False

    def token(self) -> str:
        """The snapshot text; options appear only where they differ from a plain grant."""
        text = (self.label or self.role) + (ADMIN_OPTION if self.admin else "")
        if not self.inherit and self.scope == "member of":
            text += " WITH INHERIT FALSE"
        if not self.set and self.scope == "member of":
            text += " WITH SET FALSE"
        return text


@dataclass(slots=True)
class AccountPrivileges:
    """The structured facts of one account, as the adapter read them."""

    grants: set[Grant] = field(default_factory=set)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, order=True)
class EffectiveGrant:
    """A privilege an account holds, with the roles it came through (`()` when direct)."""

    scope: Scope
    privilege: str
    grantable: bool = False
    denied: bool = False
    via: tuple[str, ...] = ()
    needs_set_role: bool = False
    option: str = "GRANT"

    @property
    def via_text(self) -> str:
        """The stored form of the path: 'r_app ← r_read', 'superuser', '' when direct."""
        return VIA_SEPARATOR.join(self.via)

    def token(self) -> str:
        """The snapshot token: the privilege as `Grant.token()` writes it, then where it comes from.

        `SELECT`, `SELECT (via r_app ← r_read)`, `DELETE (via r_admin, after SET ROLE)`,
        `ALL (as superuser)`: the path is part of the token, so one privilege reached two ways
        is two tokens and losing one way is one REVOKE naming that role.
        """
        if self.via == (SUPERUSER,):
            return f"{self.privilege} (as superuser)"
        text = (DENY if self.denied else "") + self.privilege
        text += f" WITH {self.option} OPTION" if self.grantable else ""
        if not self.via:
            return text
        return text + f" (via {self.via_text}" + (", after SET ROLE)" if self.needs_set_role else ")")

    @property
    def path(self) -> str:
        """'direct', 'via r_app ← r_read', 'as superuser'."""
        if not self.via:
            return "direct"
        if self.via == (SUPERUSER,):
            return "as superuser"
        return "via " + " ← ".join(self.via) + (" (after SET ROLE)" if self.needs_set_role else "")


SUPERUSER = "superuser"
ALL = "ALL"
VIA_SEPARATOR = " ← "


def belongs_to(scope: Scope, databases: Iterable[str], read_anyway: Iterable[str] = ()) -> bool:
    """A scope belongs to database D when it is not server-wide and its path starts with D;
    kinds in `read_anyway` come from server-wide catalogs and belong to no database."""
    if scope.kind in SERVER_WIDE or scope.kind in read_anyway:
        return False
    return bool(scope.path) and scope.path[0] in databases


class Collected(dict[str, Permissions]):
    """`identity -> canonical text snapshot`, plus the structured facts behind it.

    `shapes`: for accounts whose facts are only prepared grant sets (no role, no free-form fact),
    the sets in the order recorded. Accounts of one shape have the same snapshot, so work that
    depends on the facts alone is done once per shape.
    """

    structured: dict[str, AccountPrivileges]
    shapes: dict[str, tuple[GrantSet, ...]]


@dataclass(frozen=True, slots=True)
class GrantSet:
    """Grants on one scope, prepared once for every account that holds exactly these.

    Catalogs repeat the same few (scope, privileges) pairs over thousands of accounts (every
    user of an application holds SELECT on its database); recording a prepared set costs two
    set merges whatever it holds, where `Grants.grant()` builds, hashes and renders each fact.
    """

    text: str  # the scope as the snapshot writes it
    grants: frozenset[Grant]
    tokens: frozenset[str]

    @classmethod
    def of(cls, scope: Scope, privileges: Iterable[tuple[str, bool]]) -> GrantSet:
        """`privileges`: (name, grantable) pairs on `scope`."""
        grants = frozenset(Grant(scope, name, grantable) for name, grantable in privileges if name)
        return cls(scope.render(), grants, frozenset(g.token() for g in grants))


class Grants:
    """Collects the permissions of the wanted identities only.

    `add()` takes free-form facts (a quota, a default role name) or privilege tokens on a `Scope`;
    `grant()`, `grant_set()` and `member()` take structured facts. Identities outside the wanted
    set (accounts excluded by rules, or not in scope) are ignored, so adapters may feed every
    catalog row.

    Prepared grant sets are only listed per identity while the catalogs are read (one append per
    row); they are merged into facts and snapshot text once per distinct combination, in
    `result()`, because thousands of accounts hold the same few. An identity's own containers
    are made when it gets any other fact, from the sets it holds by then.
    """

    def __init__(self, identities: Iterable[str]) -> None:
        self.wanted: dict[str, None] = dict.fromkeys(identities)  # in the order given
        # Identities with facts other than prepared sets: their snapshot text and facts.
        self.data: dict[str, dict[str, set[str]]] = {}
        self.facts: dict[str, AccountPrivileges] = {}
        # The prepared sets each other identity holds, in the order recorded.
        self.sets: dict[str, list[GrantSet]] = {}

    def _of(self, identity: str) -> tuple[dict[str, set[str]], AccountPrivileges] | None:
        """The containers of a wanted identity (made on first use); None for the others."""
        facts = self.facts.get(identity)
        if facts is None:
            if identity not in self.wanted:
                return None
            facts = self.facts[identity] = AccountPrivileges()
            data = self.data[identity] = defaultdict(set)
            for granted in self.sets.pop(identity, ()):
                facts.grants |= granted.grants
                data[granted.text] |= granted.tokens
        return self.data[identity], facts

    def add(self, identity: str, scope: str | Scope, *privileges: str) -> None:
        """Text tokens; on a `Scope` they are parsed back into `Grant`s (`DENY `, `WITH ... OPTION`)."""
        held = self._of(identity)
        if held is None:
            return
        if isinstance(scope, Scope):
            for token in privileges:
                if token:
                    name, grantable, denied, option = parse_token(token)
                    self.grant(identity, scope, name, grantable=grantable, denied=denied, option=option)
            return
        held[0][scope].update(p for p in privileges if p)

    def grant(
        self,
        identity: str,
        scope: Scope,
        privilege: str,
        *,
        grantable: bool = False,
        denied: bool = False,
        option: str = "GRANT",
    ) -> None:
        if not privilege:
            return
        held = self._of(identity)
        if held is None:
            return
        fact = Grant(scope, privilege, grantable, denied, option)
        held[1].grants.add(fact)
        held[0][scope.render()].add(fact.token())

    def grant_set(self, identity: str, granted: GrantSet) -> None:
        """Record prepared grants (see `GrantSet`): the same facts as one `grant()` each."""
        self.grant_sets(((identity, granted),))

    def grant_sets(self, pairs: Iterable[tuple[str, GrantSet]]) -> None:
        """`grant_set()` for many (identity, prepared grants) pairs: one catalog's rows in a loop
        that does no more than a lookup and an append per row."""
        wanted, facts, data, sets = self.wanted, self.facts, self.data, self.sets
        for identity, granted in pairs:
            held = sets.get(identity)
            if held is not None:
                held.append(granted)
            elif identity in facts:
                facts[identity].grants |= granted.grants
                data[identity][granted.text] |= granted.tokens
            elif identity in wanted and granted.grants:
                sets[identity] = [granted]

    def member(self, identity: str, role: str, *, scope: str = "role", **options: bool | str) -> None:
        """Record (or add options to) a membership; repeated calls for one role merge."""
        if not role:
            return
        held = self._of(identity)
        if held is None:
            return
        memberships = held[1].memberships
        key = (scope, role)
        old = memberships.get(key)
        new = replace(old, **options) if old else Membership(role, scope, **options)  # type: ignore[arg-type]
        memberships[key] = new
        tokens = held[0][scope]
        if old:
            tokens.discard(old.token())
        if not new.implicit:
            tokens.add(new.token())

    def result(self) -> Collected:
        """Every wanted identity's snapshot (sorted tokens per scope) and facts.

        Identities holding the same prepared sets share one snapshot, one facts object and one
        `shapes` tuple, worked out once: what reads a `Collected` never changes it.
        """
        data, facts, sets = self.data, self.facts, self.sets
        out = Collected()
        structured: dict[str, AccountPrivileges] = {}
        shapes: dict[str, tuple[GrantSet, ...]] = {}
        # The same sets recorded in the same order: keyed by the objects (adapters reuse them).
        by_shape: dict[tuple[int, ...], tuple[tuple[GrantSet, ...], Permissions, AccountPrivileges]] = {}
        for identity in self.wanted:
            held = sets.get(identity)
            if held is not None:
                key = tuple(map(id, held))
                known = by_shape.get(key)
                if known is None:
                    known = by_shape[key] = (tuple(held), *_merged(held))
                shapes[identity], out[identity], structured[identity] = known
                continue
            scopes = data.get(identity)
            if scopes is None:
                out[identity] = {}
                structured[identity] = AccountPrivileges()
                continue
            out[identity] = {s: sorted(p) for s, p in scopes.items() if p}
            structured[identity] = facts[identity]
        out.structured = structured
        out.shapes = shapes
        return out


def _merged(held: Iterable[GrantSet]) -> tuple[Permissions, AccountPrivileges]:
    """The snapshot and the facts of an identity that holds only these prepared sets."""
    scopes: dict[str, set[str]] = defaultdict(set)
    grants: set[Grant] = set()
    for granted in held:
        grants |= granted.grants
        scopes[granted.text] |= granted.tokens
    return {s: sorted(p) for s, p in scopes.items() if p}, AccountPrivileges(grants)


def parse_token(token: str) -> tuple[str, bool, bool, str]:
    """`DENY SELECT WITH GRANT OPTION` -> ('SELECT', grantable, denied, option word)."""
    denied = token.startswith(DENY)
    if denied:
        token = token[len(DENY) :]
    for option in ("GRANT", "ADMIN"):
        suffix = f" WITH {option} OPTION"
        if token.endswith(suffix):
            return token[: -len(suffix)], True, denied, option
    return token, False, denied, "GRANT"


def effective(
    facts: Mapping[str, AccountPrivileges],
    *,
    superusers: Iterable[str] = (),
    public: str | None = None,
) -> dict[str, set[EffectiveGrant]]:
    """Every privilege each account holds: direct, through roles (with the path), via PUBLIC.

    A role's privileges reach a member through a chain of memberships; every link must let them
    through (`inherit`), or be switchable (`set`), in which case the result says `SET ROLE` is
    needed. `public` names the pseudo-account every account is implicitly a member of (PostgreSQL
    and Oracle `PUBLIC`). Superusers hold everything: one `ALL` grant on the server, not an
    expansion of every object.
    """
    supers = set(superusers)
    public_grants = bool(public) and public in facts
    # Accounts granted the same facts without roles (thousands of an application's logins) hold
    # the same effective set: it is built once. Adapters share Grant objects between accounts,
    # so the key (a frozenset of them) hashes and compares from stored hashes and identities.
    direct: dict[frozenset[Grant], frozenset[EffectiveGrant]] = {}
    out: dict[str, set[EffectiveGrant]] = {}
    for identity, own in facts.items():
        if identity in supers:
            out[identity] = {SUPERUSER_GRANT}
            continue
        if not own.memberships and (not public_grants or public == identity):
            key = frozenset(own.grants)
            held = direct.get(key)
            if held is None:
                held = direct[key] = frozenset(
                    EffectiveGrant(g.scope, g.privilege, g.grantable, g.denied, (), False, g.option)
                    for g in key
                )
            out[identity] = set(held)
            continue
        expanded: set[EffectiveGrant] = set()
        for role, via, needs_set in _reachable(identity, facts, public):
            for g in facts[role].grants if role in facts else ():
                expanded.add(
                    EffectiveGrant(g.scope, g.privilege, g.grantable, g.denied, via, needs_set, g.option)
                )
        out[identity] = expanded
    return out


SUPERUSER_GRANT = EffectiveGrant(Scope("server"), ALL, True, via=(SUPERUSER,))


def _reachable(
    identity: str, facts: Mapping[str, AccountPrivileges], public: str | None
) -> Iterator[tuple[str, tuple[str, ...], bool]]:
    """(role, path, needs SET ROLE) for the account itself and every role it reaches, shortest first."""
    yield identity, (), False
    best: dict[str, bool] = {identity: False}  # role -> needs_set of the best path found
    frontier: list[tuple[str, tuple[str, ...], bool]] = [(identity, (), False)]
    while frontier:
        nxt: list[tuple[str, tuple[str, ...], bool]] = []
        for current, path, needs_set in frontier:
            memberships = facts[current].memberships.values() if current in facts else ()
            for m in memberships:
                if not (m.inherit or m.set):
                    continue
                step_set = needs_set or not m.inherit
                known = best.get(m.role)
                if known is not None and (known is False or step_set):
                    continue  # already reached as well or better
                best[m.role] = step_set
                item = (m.role, (*path, m.role), step_set)
                nxt.append(item)
                yield item
        frontier = nxt
    if public and public != identity and public not in best:
        yield public, (public,), False
