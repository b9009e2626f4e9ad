"""Tiny data sets whose images carry their own identity, for tests of samplers and evaluation."""
import torch

from metalib.data import FewShotDataset


def numbered_dataset(num_classes: int, max_examples: int, counts=None, groups=None) -> FewShotDataset:
    """Each image holds its own identity: pixel [0, 0] = class, pixel [0, 1] = example index."""
    images = torch.zeros(num_classes, max_examples, 4, 4, dtype=torch.uint8)
    images[:, :, 0, 0] = torch.arange(num_classes, dtype=torch.uint8)[:, None]
    images[:, :, 0, 1] = torch.arange(max_examples, dtype=torch.uint8)[None, :]
    counts = torch.as_tensor(counts) if counts is not None else None
    return FewShotDataset.from_tensor("numbered", images, groups=groups, counts=counts)
