"""Weights & Biases logging that never needs an account: offline by default, or disabled."""

from __future__ import annotations

from pathlib import Path

from ecalib.errors import UserError


class WandbLogger:
    def __init__(
        self,
        mode: str,
        project: str,
        name: str,
        config: dict,
        directory: Path,
        group: str | None = None,
        quiet: bool = True,
    ):
        self.run = None
        if mode == "disabled":
            return
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        try:
            self.run = wandb.init(
                mode=mode,
                project=project,
                name=name,
                group=group,
                config=config,
                dir=str(directory),
                reinit="finish_previous",
                settings=wandb.Settings(silent=quiet, quiet=quiet),
            )
        except Exception as err:  # noqa: BLE001 - wandb raises several types for a missing login
            raise UserError(
                f"W&B could not start in {mode!r} mode ({type(err).__name__}: {err}). Online logging needs "
                "`wandb login` or WANDB_API_KEY; use wandb_mode='offline' (the default) or 'disabled'."
            ) from None

    def log(self, metrics: dict, step: int | None = None) -> None:
        if self.run is not None:
            self.run.log(metrics, step=step)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
