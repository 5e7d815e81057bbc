"""Image operations shared by degradations, losses, metrics and training.

``imresize`` (MATLAB-compatible bicubic resize, the benchmark convention) and ``filtering``
(one kernel per sample in a grouped convolution, separable when possible). Plain tensor
functions: they import nothing else from restorelab.
"""
