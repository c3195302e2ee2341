"""``mge.optimizer`` (MegEngine's ``megengine.optimizer``): optimizers, gradient clipping
and learning-rate schedulers.

Example:
    >>> import mge, mge.module as M
    >>> from mge.autodiff import GradManager
    >>> net = M.Linear(2, 1)
    >>> opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
    >>> gm = GradManager().attach(net.parameters())
    >>> with gm:
    ...     gm.backward(net(mge.tensor([[1.0, 2.0]])).sum())
    >>> _ = opt.step().clear_grad()
"""

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .clip_grad import clip_grad_norm, clip_grad_value
from .lamb import LAMB
from .lr_scheduler import LRScheduler
from .multi_step_lr import MultiStepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["LAMB", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "LRScheduler", "MultiStepLR",
           "Optimizer", "clip_grad_norm", "clip_grad_value"]
