"""Image operations shared by degradations, losses, metrics and training.

``imresize`` (MATLAB-compatible bicubic resize, the benchmark convention), ``filtering`` (one
kernel per sample in a grouped convolution, separable when possible) and ``sharpen``
(Real-ESRGAN's unsharp mask). Plain tensor functions: they import nothing from restorelab
outside ``ops/`` (and ``errors``).
"""
