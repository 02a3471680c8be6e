"""The diffusion generators this project trained (``diffusion_<space>.pt``, listed in ``MANIFEST.json``).

A package only so that `nag.checkpoint.default_checkpoint` finds the files with `importlib.resources`, in a checkout
and in an installed wheel alike; it holds no code.
"""
