"""Browser fixtures: the real provider (`idp serve`) as a subprocess for the whole session."""
import pytest

from tests.e2e.live import LiveIdp


@pytest.fixture(scope="session")
def idp_server(tmp_path_factory):
    """`idp serve` on a free port with its own instance directory; stopped after the session."""
    server = LiveIdp(tmp_path_factory.mktemp("idp-browser")).start()
    yield server
    server.stop()
