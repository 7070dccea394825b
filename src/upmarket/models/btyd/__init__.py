"""Buy-till-you-die customer-base models: BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, shifted
beta-geometric and Gamma-Gamma spend, fitted by maximum likelihood with analytic gradients."""

from ._base import ConvergenceWarning, InvalidData, NotFitted
from .beta_geo import BetaGeo
from .beta_geo_beta_binom import BetaGeoBetaBinom
from .gamma_gamma import GammaGamma
from .holdout import holdout_comparison
from .modified_beta_geo import ModifiedBetaGeo
from .pareto_nbd import ParetoNBD
from .shifted_beta_geo import ShiftedBetaGeo

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "ConvergenceWarning",
    "GammaGamma",
    "InvalidData",
    "ModifiedBetaGeo",
    "NotFitted",
    "ParetoNBD",
    "ShiftedBetaGeo",
    "holdout_comparison",
]
