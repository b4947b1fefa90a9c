"""Redaction, flattening and URI defaults of the tracking layer (no server needed)."""

from decig.tracking.mlflow_runs import default_tracking_uri, flatten, redact


def test_redact_masks_secret_keys_and_url_credentials():
    data = {
        "tracking": {"uri": "https://alice:s3cr3t@mlflow.example/"},
        "aws_secret_access_key": "abc",
        "api_token": "t",
        "nested": [{"password": "p"}, "postgresql://u:pw@db:5432/mlflow"],
        "steps": 3,
    }
    out = redact(data)
    text = repr(out)
    for secret in ("s3cr3t", "abc", "'t'", "'p'", ":pw@"):
        assert secret not in text
    assert out["tracking"]["uri"] == "https://***@mlflow.example/"
    assert out["steps"] == 3


def test_flatten_nested_config():
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "d": True, "e": None})
    assert flat == {"a.b": "1", "a.c": "[1, 2]", "d": "true", "e": "null"}


def test_default_tracking_uri_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert default_tracking_uri(None, tmp_path) == "http://env:5000"
    assert default_tracking_uri("http://cfg:5000", tmp_path) == "http://cfg:5000"
