import pytest

from train_container.distributed.topology import build_topology
from train_container.errors import ConfigError


def test_single_host_is_master_of_itself():
    topology = build_topology(["algo-1"], "algo-1", 2)
    assert topology.master == "algo-1"
    assert topology.is_master
    assert not topology.is_multi_host
    assert topology.workers == ()
    assert topology.world_size == 2


def test_hosts_sorted_naturally_and_first_is_master():
    topology = build_topology(["algo-10", "algo-2", "algo-1"], "algo-2", 4)
    assert topology.hosts == ("algo-1", "algo-2", "algo-10")
    assert topology.master == "algo-1"
    assert not topology.is_master
    assert topology.workers == ("algo-2", "algo-10")
    assert topology.world_size == 12


@pytest.mark.parametrize(
    ("hosts", "current", "per_host", "message"),
    [
        ([], "algo-1", 1, "no hosts"),
        (["algo-1", "algo-1"], "algo-1", 1, "twice"),
        (["algo-1"], "algo-2", 1, "not in hosts"),
        (["algo-1"], "algo-1", 0, "processes_per_host"),
    ],
)
def test_bad_cluster_descriptions_are_named(hosts, current, per_host, message):
    with pytest.raises(ConfigError, match=message):
        build_topology(hosts, current, per_host)
