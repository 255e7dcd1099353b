"""mitolib: U-Net variants for mitochondria segmentation in electron microscopy, studied reproducibly."""

__version__ = "0.1.0"
