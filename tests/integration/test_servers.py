"""The real servers the integration suite relies on answer, and mlflow stores artifacts in S3."""

import boto3
import mlflow
import pytest

pytestmark = pytest.mark.integration


def test_mlflow_run_artifacts_land_in_s3(mlflow_server, s3_server, tmp_path, monkeypatch):
    # The client holds no S3 credentials: the server proxies artifacts to the object store.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    client = mlflow.MlflowClient(tracking_uri=mlflow_server.uri)
    exp_id = client.create_experiment("servers-smoke")
    run = client.create_run(exp_id)
    (tmp_path / "note.txt").write_text("hello")
    client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))
    client.log_metric(run.info.run_id, "m", 1.5)
    client.set_terminated(run.info.run_id)

    assert client.get_run(run.info.run_id).data.metrics["m"] == 1.5
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, **{
        "aws_access_key_id": s3_server.env()["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": s3_server.env()["AWS_SECRET_ACCESS_KEY"], "region_name": "us-east-1"})
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_server.bucket, Prefix="mlflow/").get("Contents", [])]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/note.txt") for k in keys), keys
