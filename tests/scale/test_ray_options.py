"""How ``--ray`` picks its device and pool, and reads its address, without starting Ray."""

import pytest

from app.cli import main
from app.cli.scale import choose_actors, choose_device, probe
from app.engine import InputError


@pytest.mark.parametrize(("provider", "gpus", "device"),
                         [("auto", 0, "CPU"), ("auto", 2, "CUDA"), ("cpu", 2, "CPU"), ("cuda", 0, "CUDA"),
                          ("tensorrt", 1, "CUDA")])
def test_auto_means_cuda_only_on_a_cluster_with_gpus(provider, gpus, device):
    assert choose_device(provider, {"CPU": 8, "GPU": gpus}) == device


def test_the_pool_is_one_actor_per_gpu_or_per_threads_cpus():
    assert choose_actors(None, "CUDA", 1, {"CPU": 16, "GPU": 4}, fixed=True) == 4
    assert choose_actors(None, "CPU", 1, {"CPU": 16}, fixed=True) == 16
    assert choose_actors(None, "CPU", 4, {"CPU": 16}, fixed=True) == 4
    assert choose_actors(None, "CPU", 4, {"CPU": 2}, fixed=False) == 1
    assert choose_actors(3, "CPU", 1, {"CPU": 2}, fixed=False) == 3  # a cluster may grow: Ray waits for it


@pytest.mark.parametrize(
    ("requested", "device", "resources", "message"),
    [(None, "CUDA", {"CPU": 8}, "The Ray cluster has no GPUs for --provider cuda"),
     (3, "CPU", {"CPU": 2}, "3 scoring actors need 3 CPUs but this Ray has 2"),
     (2, "CUDA", {"CPU": 8, "GPU": 1}, "2 scoring actors need 2 GPUs but this Ray has 1")],
)
def test_a_pool_that_cannot_start_is_refused(requested, device, resources, message):
    with pytest.raises(InputError, match=message):
        choose_actors(requested, device, 1, resources, fixed=True)


def test_an_input_after_ray_is_not_taken_for_an_address(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["score", "--ray", "corpus.csv", "-o", str(tmp_path / "o.csv")])
    assert "'corpus.csv' is not a Ray address" in capsys.readouterr().err


def test_an_address_without_a_port_is_refused():
    with pytest.raises(InputError, match="is not a Ray address"):
        probe("headnode")
