"""``mge.random``: MegEngine's random tensors (``uniform``, ``normal``, ``gamma``,
``beta``, ``poisson``, ``permutation``, ``shuffle``), from the global generator
(reseeded by :func:`seed`) or from seeded :class:`RNG` objects.

Example:
    >>> import mge
    >>> mge.random.seed(0)
    >>> a = mge.random.normal(size=(2,)).numpy()
    >>> mge.random.seed(0)
    >>> bool((a == mge.random.normal(size=(2,)).numpy()).all())
    True
"""

from .rng import RNG, beta, gamma, normal, permutation, poisson, seed, shuffle, uniform

__all__ = ["RNG", "beta", "gamma", "normal", "permutation", "poisson", "seed", "shuffle",
           "uniform"]
