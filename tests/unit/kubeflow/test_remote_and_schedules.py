"""Submit and schedules against a recording stand-in for the remote KFP API (the one part that cannot
run here), on the really compiled pipeline package; the schedules file is validated before any call."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from decig.config import load_config
from decig.core.errors import ConfigError, DeviceError
from decig.kubeflow.compile import compile_pipeline, golden_image
from decig.kubeflow.remote import apply_schedules, run_parameters, submit, upload_version, version_name
from decig.kubeflow.schedules import check_cron, load_schedules

ROOT = Path(__file__).resolve().parents[3]


class FakeKfpApi:
    """Records every call with its keyword arguments; keeps just enough state to answer lookups."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.pipelines: dict[str, str] = {}
        self.versions: dict[str, list[SimpleNamespace]] = {}
        self.recurring: dict[str, SimpleNamespace] = {}
        self._n = 0

    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{kind}-{self._n}"

    def get_pipeline_id(self, name: str) -> str | None:
        self.calls.append(("get_pipeline_id", {"name": name}))
        return self.pipelines.get(name)

    def upload_pipeline(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("upload_pipeline", kw))
        yaml.safe_load_all(Path(kw["pipeline_package_path"]).read_text())  # the server parses the package
        pid = self._id("pipeline")
        self.pipelines[kw["pipeline_name"]] = pid
        self.versions[pid] = []
        return SimpleNamespace(pipeline_id=pid)

    def list_pipeline_versions(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("list_pipeline_versions", kw))
        return SimpleNamespace(pipeline_versions=list(self.versions[kw["pipeline_id"]]), next_page_token="")

    def upload_pipeline_version(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("upload_pipeline_version", kw))
        v = SimpleNamespace(pipeline_version_id=self._id("version"), display_name=kw["pipeline_version_name"])
        self.versions[kw["pipeline_id"]].append(v)
        return v

    def create_experiment(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("create_experiment", kw))
        return SimpleNamespace(experiment_id=f"exp-{kw['name']}")

    def run_pipeline(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("run_pipeline", kw))
        return SimpleNamespace(run_id=self._id("run"))

    def list_recurring_runs(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("list_recurring_runs", kw))
        return SimpleNamespace(recurring_runs=list(self.recurring.values()), next_page_token="")

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        self.calls.append(("delete_recurring_run", {"recurring_run_id": recurring_run_id}))
        self.recurring = {k: v for k, v in self.recurring.items() if v.recurring_run_id != recurring_run_id}

    def create_recurring_run(self, **kw: Any) -> SimpleNamespace:
        self.calls.append(("create_recurring_run", kw))
        rr = SimpleNamespace(recurring_run_id=self._id("rr"), display_name=kw["job_name"])
        self.recurring[kw["job_name"]] = rr
        return rr

    def named(self, method: str) -> list[dict[str, Any]]:
        return [kw for name, kw in self.calls if name == method]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("pkg") / "decig_pipeline.yaml", image=golden_image())


def test_submit_uploads_a_version_and_starts_a_run_with_the_config(package: Path) -> None:
    api = FakeKfpApi()
    cfg = load_config(ROOT / "configs/demo.yaml", ["devices=[cpu,mac]", "stage1.steps=50"])
    ids = submit(api, package, run_parameters(cfg, extra={"auto_promote": True}), experiment="nightly")

    (upload,) = api.named("upload_pipeline")
    assert upload["pipeline_name"] == "decig" and upload["pipeline_package_path"] == str(package)
    (version,) = api.named("upload_pipeline_version")
    assert version["pipeline_version_name"] == version_name(package) == ids["version"]
    (run,) = api.named("run_pipeline")
    assert run["experiment_id"] == "exp-nightly" and run["version_id"] == ids["version_id"]
    assert run["pipeline_id"] == ids["pipeline_id"]
    params = run["params"]
    assert params["devices"] == ["cpu", "mac"] and params["method"] == "decig" and params["auto_promote"] is True
    assert load_config(None, []).model_validate(json.loads(params["config_json"])) == cfg
    # Every run parameter exists in the compiled pipeline (a typo would be refused by the server).
    spec = next(yaml.safe_load_all(package.read_text()))
    assert set(params) <= set(spec["root"]["inputDefinitions"]["parameters"])


def test_same_package_is_not_uploaded_twice(package: Path) -> None:
    api = FakeKfpApi()
    first = upload_version(api, package)
    second = upload_version(api, package)
    assert first == second
    assert len(api.named("upload_pipeline_version")) == 1 and len(api.named("upload_pipeline")) == 1


def test_schedule_apply_creates_nightly_runs_pinned_to_the_version(package: Path) -> None:
    api = FakeKfpApi()
    schedules = load_schedules(ROOT / "configs/schedules.yaml")
    applied = apply_schedules(api, package, schedules)

    created = api.named("create_recurring_run")
    assert [c["job_name"] for c in created] == [s.name for s in schedules.schedules]
    (version,) = api.named("upload_pipeline_version")
    for call, sched in zip(created, schedules.schedules, strict=True):
        assert call["cron_expression"] == sched.cron and len(call["cron_expression"].split()) == 6
        assert call["max_concurrency"] == 1 and call["no_catchup"] is True
        assert call["version_id"] == api.versions[call["pipeline_id"]][0].pipeline_version_id
        assert call["params"]["devices"] == [sched.device]
        cfg = json.loads(call["params"]["config_json"])
        assert cfg["devices"] == [sched.device]
        assert all(call["params"][k] == v for k, v in schedules.params.items()) and schedules.params
    assert version["pipeline_version_name"] == applied[0]["version"]

    # Applying again replaces each schedule (declarative), never duplicates it.
    apply_schedules(api, package, schedules)
    assert len(api.named("delete_recurring_run")) == len(schedules.schedules)
    assert sorted(api.recurring) == sorted(s.name for s in schedules.schedules)
    assert len(api.named("upload_pipeline_version")) == 1


@pytest.mark.parametrize("expr", ["0 0 2 * * *", "0 */15 * * * ?", "30 0 1 1-15 JAN-MAR MON,WED", "0 0 0 ? * 1-5"])
def test_valid_crons(expr: str) -> None:
    assert check_cron(expr) == expr


@pytest.mark.parametrize("expr,message", [
    ("0 2 * * *", "has 5 fields"),
    ("0 60 2 * * *", "minutes value '60'"),
    ("0 0 24 * * *", "hours value '24'"),
    ("0 0 2 * * FUNDAY", "day of week"),
    ("0 0 */0 * * *", "step"),
    ("0 0 5-2 * * *", "backwards"),
    ("? 0 2 * * *", "seconds"),
])
def test_bad_crons_are_refused(expr: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_cron(expr)


def _write(tmp_path: Path, body: dict[str, Any]) -> Path:
    (tmp_path / "demo.yaml").write_text((ROOT / "configs/demo.yaml").read_text())
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


GOOD = {"config": "demo.yaml", "schedules": [{"name": "nightly-cpu", "device": "cpu", "cron": "0 0 1 * * *"}]}


@pytest.mark.parametrize("change,error,message", [
    ({"schedules": [{"name": "n", "device": "tpu", "cron": "0 0 1 * * *"}]}, DeviceError, "unknown device"),
    ({"schedules": [{"name": "n", "device": "cpu", "cron": "0 1 * * *"}]}, ConfigError, "6"),
    ({"schedules": [{"name": "n", "device": "cpu", "cron": "0 0 1 * * *", "set": ["stage1.stepz=3"]}]},
     ConfigError, "stage1.stepz: unknown key"),
    ({"schedules": [{"name": "n", "device": "cpu", "cron": "0 0 1 * * *", "when": "nightly"}]},
     ConfigError, "unknown key"),
    ({"params": {"devices": ["cpu"]}}, ConfigError, "unknown params"),
    ({"config": "missing.yaml"}, ConfigError, "config file not found"),
    ({"schedules": [GOOD["schedules"][0], GOOD["schedules"][0]]}, ConfigError, "duplicate"),
])
def test_bad_schedule_files_fail_before_any_call(tmp_path: Path, package: Path, change: dict[str, Any],
                                                 error: type[Exception], message: str) -> None:
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(error, match=message):
        load_schedules(path)
