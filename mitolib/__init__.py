"""mitolib: U-Net variants for mitochondria segmentation in electron microscopy, studied reproducibly.

The public API:

* ``mitolib.predict(volume, model, **options)`` segments a uint8 slice ``(H, W)`` or stack ``(S, H, W)`` with a
  trained model (a run directory, a ``.keras`` file or a Keras model): :func:`mitolib.training.segment.predict`.
* ``mitolib.load_model(path)`` loads a saved ``.keras`` model: :func:`mitolib.model.architectures.load_saved_model`.
* ``mitolib.build_model(name, input_shape)`` builds an untrained ``unet``, ``attention_unet`` or
  ``attention_resunet`` with the corrected recipe's settings: :func:`mitolib.model.architectures.build_model`.

The layers beneath are sub-packages (``core``, ``data``, ``model``, ``training``, ``studies``, ``results``,
``figures``, ``report``; ARCHITECTURE.md).  Imports are deferred so ``import mitolib`` stays fast.
"""

__version__ = "0.1.0"


def predict(volume, model, **options):
    """Segment ``volume`` with ``model``; the documentation and options are
    :func:`mitolib.training.segment.predict`'s."""
    from mitolib.training.segment import predict as _predict

    return _predict(volume, model, **options)


def load_model(path):
    """The Keras model saved at ``path``; see :func:`mitolib.model.architectures.load_saved_model`."""
    from mitolib.model.architectures import load_saved_model

    return load_saved_model(path)


def build_model(name: str, input_shape=(256, 256, 1), **settings):
    """An untrained U-Net; the documentation and settings are :func:`mitolib.model.architectures.build_model`'s."""
    from mitolib.model.architectures import build_model as _build_model

    return _build_model(name, input_shape, **settings)
