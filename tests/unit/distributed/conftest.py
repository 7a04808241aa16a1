import pytest

from tests.support import processes


@pytest.fixture
def free_port():
    return processes.free_port()
