"""NAG: predictor-guided generative neural-architecture design.

Light on import: heavy libraries (torch_geometric, lightning, diffusers, botorch) load only where used.
"""

__version__ = "0.1.0"
