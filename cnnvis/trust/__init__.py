"""Evidence for an explanation: the model-randomisation sanity check and faithfulness curves."""

from .perturbation import FaithfulnessResult, faithfulness
from .sanity import SanityReport, sanity_check

__all__ = ["FaithfulnessResult", "SanityReport", "faithfulness", "sanity_check"]
