"""What a gRPC call that must fail answered."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest


def status_of(call: Callable[..., object], request: object, timeout: float = 10) -> tuple[grpc.StatusCode, str]:
    """`call(request)`, which must fail: its status code and details."""
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=timeout)
    return caught.value.code(), caught.value.details() or ""


def code_of(call: Callable[..., object], request: object) -> grpc.StatusCode:
    return status_of(call, request)[0]
