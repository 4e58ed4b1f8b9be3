"""Who may call each RPC, declared once per service, and a guard that keeps scopes closed.

Every method of a service has an `AccessRule`: the roles that may call it and the scope the
handler checks (which hubs or clients the call touches). The server refuses to start when a
method has no rule or an incomplete one. While a call runs, `current_caller()` is the caller;
its `require_*` / `may_access_*` methods record that the scope was checked. A call whose rule
has a scope and whose handler never checked it is refused: at `commit()` of any unit of work
(so nothing is written) and before its response leaves (so nothing is read). Callers that see
every hub (services, admins) pass without a check.
"""

from __future__ import annotations

import contextvars
import enum
from dataclasses import dataclass

from mesh.auth import MACHINES_AND_ADMINS, Principal, Role
from mesh.errors import PermissionDenied, Unauthenticated
from mesh.kernel import Actor


class Scope(enum.Enum):
    """What the handler of a method checks the caller against."""

    EVERY_HUB = "every hub"  # no per-record check: only roles that see every hub may be allowed
    HUB = "hub"  # the hubs the call reads or writes (require_hub / may_access_hub)
    PICKUP = "pickup"  # the client and hub of the PURs it touches (require_pickup / may_access_pickup)


@dataclass(frozen=True)
class AccessRule:
    roles: frozenset[Role]
    scope: Scope

    def __post_init__(self) -> None:
        if not self.roles:
            raise ValueError("an access rule allows at least one role")
        if self.scope is Scope.EVERY_HUB and not self.roles <= MACHINES_AND_ADMINS:
            raise ValueError(f"scope {self.scope.value!r} is for services and admins only, not {sorted(self.roles)}")
        if Role.CLIENT in self.roles and self.scope is not Scope.PICKUP:
            raise ValueError("clients are scoped by their PURs: a rule allowing them needs Scope.PICKUP")


class Caller:
    """The verified caller of one call and whether its scope has been checked."""

    def __init__(self, principal: Principal, rule: AccessRule, method: str) -> None:
        self.principal = principal
        self.rule = rule
        self.method = method
        self.scope_checked = False

    @property
    def subject(self) -> str:
        return self.principal.subject

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def client_id(self) -> str | None:
        return self.principal.client_id

    @property
    def hubs(self) -> frozenset[str]:
        return self.principal.hubs

    @property
    def actor(self) -> Actor:
        """The caller as histories and events name who acted."""
        return Actor(self.principal.subject, self.principal.role.value)

    @property
    def sees_every_hub(self) -> bool:
        return self.principal.sees_every_hub

    def may_access_hub(self, hub_id: str) -> bool:
        self.scope_checked = True
        return self.principal.may_access_hub(hub_id)

    def require_hub(self, hub_id: str) -> None:
        self.scope_checked = True
        self.principal.require_hub(hub_id)

    def may_access_pickup(self, client_id: str, hub_id: str) -> bool:
        self.scope_checked = True
        return self.principal.may_access_pickup(client_id, hub_id)

    def require_pickup(self, client_id: str, hub_id: str) -> None:
        self.scope_checked = True
        self.principal.require_pickup(client_id, hub_id)

    def ensure_scope_checked(self) -> None:
        if self.rule.scope is Scope.EVERY_HUB or self.principal.sees_every_hub or self.scope_checked:
            return
        raise PermissionDenied(f"{self.method}: refused, the caller's {self.rule.scope.value} scope was not checked")


_current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


def current_caller() -> Caller:
    """The caller of the RPC being served; fails closed when no interceptor authenticated it."""
    caller = _current_caller.get()
    if caller is None:
        raise Unauthenticated("no authenticated caller")
    return caller


def ensure_scope_checked() -> None:
    """Raise PermissionDenied when the current call's scope was never checked; a no-op outside a
    call (consumers, commands), where there is no caller to scope."""
    caller = _current_caller.get()
    if caller is not None:
        caller.ensure_scope_checked()


def enter_call(caller: Caller) -> contextvars.Token[Caller | None]:
    return _current_caller.set(caller)


def leave_call(token: contextvars.Token[Caller | None]) -> None:
    try:
        _current_caller.reset(token)
    except ValueError:
        # A cancelled stream is closed from another thread; that thread never saw the value.
        pass
