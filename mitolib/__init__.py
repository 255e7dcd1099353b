"""mitolib: U-Net variants for mitochondria segmentation in electron microscopy, studied reproducibly.

``mitolib.predict(volume, model, **options)`` segments a uint8 slice ``(H, W)`` or stack ``(S, H, W)`` with a
trained model (a run directory, a ``.keras`` file or a Keras model): see :func:`mitolib.segment.predict`.
"""

__version__ = "0.1.0"


def predict(volume, model, **options):
    """Segment ``volume`` with ``model``; the documentation and options are :func:`mitolib.segment.predict`'s."""
    from mitolib.segment import predict as _predict

    return _predict(volume, model, **options)
