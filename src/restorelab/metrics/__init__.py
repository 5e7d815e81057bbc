"""Image-quality metrics: PSNR/SSIM on Y with the field's conventions, and LPIPS.

``psnr_ssim`` holds the functions and the DDP-safe torchmetrics ``Metric``\\ s the module logs;
``lpips`` the perceptual distance (imported on use: it needs VGG weights on disk).
"""

from restorelab.metrics.psnr_ssim import PSNRY, SSIMY, psnr_y, quantize_8bit, rgb_to_y, ssim_y

__all__ = ["PSNRY", "SSIMY", "psnr_y", "quantize_8bit", "rgb_to_y", "ssim_y"]
