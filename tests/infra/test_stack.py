"""The local stack's replicas: each its own port and data dir, each calling its own path."""

from __future__ import annotations

from pathlib import Path

from infra.local.stack import SERVICES, StackConfig, replica_name, service_env, split_replica


def _config(tmp_path: Path, replicas: dict[str, int]) -> StackConfig:
    ports = {
        replica_name(name, i): 9000 + 10 * n + i
        for n, (name, _module, _port) in enumerate(SERVICES)
        for i in range(1, replicas.get(name, 1) + 1)
    }
    return StackConfig(
        data_dir=tmp_path,
        ports=ports,
        service_token_secret="s" * 32,
        jwt_secret="j" * 32,
        replicas=replicas,
    )


def test_replica_names_round_trip() -> None:
    assert [replica_name("fake_push", 1), replica_name("training", 2)] == [
        "fake_push",
        "training-2",
    ]
    assert split_replica("training-2") == ("training", 2)
    assert split_replica("fake_push") == ("fake_push", 1)


def test_replica_i_calls_replica_i_of_each_service(tmp_path: Path) -> None:
    config = _config(tmp_path, {"bff": 2, "training": 2, "inference": 2})

    second_bff = service_env(config, "bff-2")
    second_training = service_env(config, "training-2")

    assert second_bff["TERN_BFF_PORT"] == str(config.ports["bff-2"])
    assert second_bff["TERN_BFF_TRAINING_URL"] == config.url("training-2")
    assert second_bff["TERN_BFF_INFERENCE_URL"] == config.url("inference-2")
    assert second_bff["TERN_BFF_DATASETS_URL"] == config.url("datasets")  # one replica only
    assert second_training["TERN_TRAINING_INFERENCE_URL"] == config.url("inference-2")
    assert service_env(config, "bff")["TERN_BFF_TRAINING_URL"] == config.url("training")


def test_each_replica_keeps_its_own_data_dir(tmp_path: Path) -> None:
    config = _config(tmp_path, {"inference": 2})

    dirs = [service_env(config, p)["TERN_INFERENCE_DATA_DIR"] for p in ("inference", "inference-2")]

    assert dirs == [str(tmp_path), str(tmp_path / "inference-2")]
    assert config.process_names("inference") == ["inference", "inference-2"]
    assert config.process_names("bff") == ["bff"]
