"""Where tracked metrics go (tracking.py runs each in its own thread): TensorBoard event
files uploaded to the store, an MLflow tracking server, W&B. Each has open, log, sync
(a checkpoint was committed) and close; any of them may raise, which ends that sink only.

params.tracking, as the config's `tracking:` section puts it in the job:
    mlflow: {tracking_uri, experiment, token: secret:env:<NAME>}
    wandb:  {project, entity, mode, api_key: secret:env:<NAME>}
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from .secret_refs import resolve_secret
from .store import Store

# At most this often the growing event file is copied to the store between checkpoints.
TB_UPLOAD_S = 10.0
# Tags that find this run's MLflow run again when a later job of the same lineage resumes it.
MLFLOW_RUN_TAG, MLFLOW_LINEAGE_TAG = "durable_finetune.run", "durable_finetune.lineage"


def tensorboard_key(run_id: str, lineage: str) -> str:
    return f"runs/{run_id}/tensorboard/{lineage}"


class TensorBoardSink:
    """Event files written in local_dir, copied to the store (whole, when they grew) every
    TB_UPLOAD_S, at each checkpoint and at the end. A job that starts after step
    `start_step` (its checkpoint; 0 when fresh) opens its file with purge_step start_step+1:
    TensorBoard then hides what earlier jobs of the lineage logged past that checkpoint
    (steps a lost host did that are done again, or a whole earlier attempt)."""

    name = "TensorBoard"

    def __init__(self, store: Store, local_dir: Path, key: str, start_step: int):
        self.store, self.local_dir, self.key, self.start_step = store, local_dir, key, start_step
        self.writer: Any = None  # a SummaryWriter once open() ran
        self._uploaded: dict[str, int] = {}
        self._last_upload = 0.0

    def open(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.local_dir), purge_step=self.start_step + 1, flush_secs=5)

    def log(self, step: int, metrics: dict[str, float], wall_time: float) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step, walltime=wall_time)
        if time.monotonic() - self._last_upload >= TB_UPLOAD_S:
            self.sync()

    def sync(self) -> None:
        self.writer.flush()
        self._last_upload = time.monotonic()
        for path in sorted(self.local_dir.iterdir()):
            size = path.stat().st_size
            if path.is_file() and self._uploaded.get(path.name) != size:
                self.store.put_file(f"{self.key}/{path.name}", path)
                self._uploaded[path.name] = size

    def close(self, outcome: str) -> None:  # noqa: ARG002 - TensorBoard has no run state
        self.writer.close()
        self.sync()


class MlflowSink:
    """One MLflow run per run and lineage, named `<run>/<lineage>`; a job that resumes the
    lineage finds it by its tags and logs on. Metrics go in one log_batch per step."""

    name = "MLflow"

    def __init__(self, cfg: dict, run_id: str, lineage: str, job_id: str, params: dict[str, Any]):
        self.cfg, self.run_id, self.lineage, self.job_id, self.params = cfg, run_id, lineage, job_id, params
        self.client: Any = None  # an MlflowClient once open() ran
        self.mlflow_run: str | None = None
        self.secrets: list[str] = []

    def open(self) -> None:
        # The client's defaults retry a refused connection for minutes; a server that is down
        # should cost one warning soon after the stage starts, not a stuck close at its end.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
        if self.cfg.get("token"):
            # The client reads a bearer token only from its environment: this process's, in memory.
            token = resolve_secret("tracking.mlflow.token", self.cfg["token"])
            self.secrets.append(token)
            os.environ["MLFLOW_TRACKING_TOKEN"] = token
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.cfg["tracking_uri"])
        name = self.cfg.get("experiment") or "durable-finetune"
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(name)
        found = self.client.search_runs(
            [exp_id],
            filter_string=f"tags.`{MLFLOW_RUN_TAG}` = '{self.run_id}' and "
            f"tags.`{MLFLOW_LINEAGE_TAG}` = '{self.lineage}'",
            max_results=1,
        )
        if found:
            self.mlflow_run = found[0].info.run_id
            self.client.update_run(self.mlflow_run, status="RUNNING")
            self.client.set_tag(self.mlflow_run, "durable_finetune.job", self.job_id)
            return
        run = self.client.create_run(
            exp_id,
            run_name=f"{self.run_id}/{self.lineage}",
            tags={MLFLOW_RUN_TAG: self.run_id, MLFLOW_LINEAGE_TAG: self.lineage, "durable_finetune.job": self.job_id},
        )
        self.mlflow_run = run.info.run_id
        self.client.log_batch(self.mlflow_run, params=[Param(k, str(v)[:6000]) for k, v in self.params.items()])

    def log(self, step: int, metrics: dict[str, float], wall_time: float) -> None:
        from mlflow.entities import Metric

        ms = int(wall_time * 1000)
        self.client.log_batch(self.mlflow_run, metrics=[Metric(k, v, ms, step) for k, v in metrics.items()])

    def sync(self) -> None:
        pass  # every log is sent as it comes

    def close(self, outcome: str) -> None:
        status = {"finished": "FINISHED", "interrupted": "KILLED"}.get(outcome, "FAILED")
        self.client.set_terminated(self.mlflow_run, status=status)


class WandbSink:
    """One W&B run per run and lineage (id from both, so a resumed job continues it), grouped
    by run, job_type the lineage. The API key, a secret reference, is resolved here on the
    host and handed to wandb in memory: never an environment variable, a file or a log.
    Offline, the run's folder is copied to the store at the end (runs/<run>/wandb/<lineage>/),
    where `wandb sync` can take it from after the host is gone."""

    name = "W&B"

    def __init__(self, store: Store, cfg: dict, run_id: str, lineage: str, params: dict[str, Any], local_dir: Path):
        self.store, self.cfg, self.run_id, self.lineage = store, cfg, run_id, lineage
        self.params, self.local_dir = params, local_dir
        self.secrets: list[str] = []
        self.run: Any = None  # a wandb run once open() ran

    def open(self) -> None:
        settings: dict[str, Any] = {"console": "off", "silent": True, "x_disable_stats": True}
        if (
            self.cfg.get("api_key") and self.cfg.get("mode", "online") == "online"
        ):  # offline needs no key, so its files hold none
            key = resolve_secret("tracking.wandb.api_key", self.cfg["api_key"])
            self.secrets.append(key)
            settings["api_key"] = key
        import wandb

        # WANDB_DIR, when set, wins: offline runs land where the user syncs them from.
        folder = os.environ.get("WANDB_DIR") or str(self.local_dir)
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=self.cfg["project"],
            entity=self.cfg.get("entity"),
            mode=self.cfg.get("mode", "online"),
            dir=folder,
            id=wandb_id(self.run_id, self.lineage),
            name=f"{self.run_id}/{self.lineage}",
            group=self.run_id,
            job_type=self.lineage,
            config=self.params,
            resume="allow",
            reinit="create_new",
            settings=wandb.Settings(**settings),
        )

    def log(self, step: int, metrics: dict[str, float], wall_time: float) -> None:  # noqa: ARG002
        self.run.log(metrics, step=step)

    def sync(self) -> None:
        pass  # wandb sends in its own process

    def close(self, outcome: str) -> None:
        folder = Path(self.run.dir).parent  # <dir>/wandb/offline-run-<time>-<id>/files -> the run's folder
        self.run.finish(exit_code=0 if outcome != "failed" else 1)
        if self.cfg.get("mode") == "offline":
            self.store.upload_dir(folder, f"runs/{self.run_id}/wandb/{self.lineage}/{folder.name}")


def wandb_id(run_id: str, lineage: str) -> str:
    """W&B run ids allow letters, digits, `_` and `-`: `<run>-<lineage>` with others as `-`."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{run_id}-{lineage}")[:64]
