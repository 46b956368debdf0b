"""Synthetic broadcast footage with exact ground truth: the default input and quality yardstick."""

from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.render import RenderResult, render_clip

__all__ = ["RenderResult", "SynthConfig", "render_clip"]
