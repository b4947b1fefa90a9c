"""The network guard itself must work, or the offline tests prove nothing."""

import socket
import urllib.request

import pytest


def test_guard_blocks_socket_connect(no_network: None) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(AssertionError, match="network access attempted"):
            sock.connect(("127.0.0.1", 9))
    finally:
        sock.close()


def test_guard_blocks_http(no_network: None) -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        urllib.request.urlopen("http://example.com", timeout=1)
