"""The re-identification problem's contract: the identity count goes to the loss; ranked by mAP (max)."""

import pytorch_lightning as pl

from visionbench.tasks.contract import DatasetFacts, Headline, ProblemContract


class ReidContract(ProblemContract):
    """Person re-identification (DeepSORT's appearance model): the training identities' count goes to the loss,
    which holds one weight per identity, so evaluation (on other identities) builds no loss; ranked by mAP."""

    name = "reid"
    headline = Headline("mAP", "max")
    evaluation_keeps_loss = False

    def dataset_facts(self, datamodule: pl.LightningDataModule) -> DatasetFacts:
        return DatasetFacts(loss={"num_identities": datamodule.num_identities})
