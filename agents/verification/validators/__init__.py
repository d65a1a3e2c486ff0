"""Validators (one interface: a score in [0, 1] and reasons) and the quality gate that combines them."""

from synthstream.agents.verification.validators.base import Judgement, Validator
from synthstream.agents.verification.validators.diversity import DiversityValidator
from synthstream.agents.verification.validators.factual import FactualValidator, load_kb
from synthstream.agents.verification.validators.gate import KNOWN, Decision, decide
from synthstream.agents.verification.validators.style import StyleConsistencyValidator

__all__ = ["KNOWN", "Decision", "DiversityValidator", "FactualValidator", "Judgement", "StyleConsistencyValidator",
           "Validator", "decide", "load_kb"]
