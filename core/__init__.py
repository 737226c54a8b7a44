"""Loss Landscape Lab's computational core: problems, optimizers, the trajectory engine, landscapes,
spectra and scenarios. Pure torch/numpy/scipy/pandas; never imports Qt."""
