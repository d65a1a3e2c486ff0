"""Validators (one interface: a score in [0, 1] and reasons) and the quality gate that combines them."""

from agents.verification.validators.base import Judgement, Validator
from agents.verification.validators.diversity import DiversityValidator
from agents.verification.validators.factual import FactualValidator, load_kb
from agents.verification.validators.gate import KNOWN, Decision, decide, default_weights
from agents.verification.validators.style import StyleConsistencyValidator

__all__ = ["KNOWN", "Decision", "DiversityValidator", "FactualValidator", "Judgement", "StyleConsistencyValidator",
           "Validator", "decide", "default_weights", "load_kb"]
