"""Graph diffusion generator of architectures: noise schedules, denoiser, sampler and generation-quality metrics.

Kept import-light on purpose: submodules are imported explicitly (``from nag.diffusion.metrics import ...``), so
importing this package pulls in neither diffusers nor Lightning.
"""
