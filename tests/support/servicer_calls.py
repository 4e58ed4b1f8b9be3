"""A servicer called as one caller, without a server: through grpc_testing, or directly.

grpc_testing runs each method on a thread of its own and without the mesh's interceptors, so
`AsCaller` does what the auth interceptor would: it sets the caller around the method and refuses
a call that never checked the caller's scope. The error interceptor, which maps error kinds to
status codes, is not run either: `raised` gives the kind itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
import grpc_testing
import pytest
from google.protobuf.descriptor import ServiceDescriptor

from mesh.access import AccessRule, Caller, enter_call, leave_call
from mesh.auth import Principal
from mesh.errors import MeshError


@contextmanager
def calling(principal: Principal, access: Mapping[str, AccessRule], method: str) -> Iterator[Caller]:
    """The caller the server's auth interceptor would have set for `method`, in this thread."""
    caller = Caller(principal, access[method], method)
    token = enter_call(caller)
    try:
        yield caller
    finally:
        leave_call(token)


class AsCaller:
    """The servicer with every method run as `principal`, refused as the real server refuses when
    the method never checked the caller's scope."""

    def __init__(
        self, servicer: object, service: ServiceDescriptor, access: Mapping[str, AccessRule], principal: Principal
    ) -> None:
        self._servicer, self._service, self._access, self._principal = servicer, service, access, principal

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._servicer, name)
        if self._service.methods_by_name[name].server_streaming:

            def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                with calling(self._principal, self._access, name) as caller:
                    for response in method(request, context):
                        caller.ensure_scope_checked()
                        yield response

            return streaming

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            with calling(self._principal, self._access, name) as caller:
                response = method(request, context)
                caller.ensure_scope_checked()
                return response

        return unary


class ServedAs:
    """`servicer` of `service` behind grpc_testing, every call made as `principal`."""

    def __init__(
        self, servicer: object, service: ServiceDescriptor, access: Mapping[str, AccessRule], principal: Principal
    ) -> None:
        self.servicer, self.service, self.access, self.principal = servicer, service, access, principal
        self.server = grpc_testing.server_from_dictionary(
            {service: AsCaller(servicer, service, access, principal)}, grpc_testing.strict_real_time()
        )

    def call(self, method: str, request: Any) -> tuple[Any, grpc.StatusCode, str]:
        """A unary call: (response, code, details)."""
        rpc = self.server.invoke_unary_unary(self.service.methods_by_name[method], (), request, None)
        response, _, code, details = rpc.termination()
        return response, code, details

    def ok(self, method: str, request: Any) -> Any:
        response, code, details = self.call(method, request)
        assert code is grpc.StatusCode.OK, details
        return response

    def raised(self, method: str, request: Any) -> Exception:
        """The error `method`, called directly, raises for the interceptor to map."""
        with calling(self.principal, self.access, method), pytest.raises(Exception) as caught:
            getattr(self.servicer, method)(request, NoDeadline())
        return caught.value

    def refuses(self, method: str, request: Any, kind: type[MeshError], message: str) -> None:
        error = self.raised(method, request)
        assert isinstance(error, kind) and message in str(error), repr(error)


class NoDeadline:
    """The context of a call made without a deadline, for a method called directly."""

    def time_remaining(self) -> float | None:
        return None

    def is_active(self) -> bool:
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return True  # the call never ends on its own
