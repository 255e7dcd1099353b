"""What learning rate does the original's ``Adam(lr = 1e-2)`` apply?  Run it in a TensorFlow of that time.

The original training script (``224_225_226_mito_segm_using_various_unet_models_original.py`` of
Zhao-Xiaodan/unet-HPC) imports ``from tensorflow.keras.optimizers import Adam`` and compiles every model
with ``optimizer=Adam(lr = 1e-2)``.  This script makes the same call and prints one CSV row: the
TensorFlow and Keras versions, whether the call raised, and the learning rate the optimizer holds.
Run it with the Python of a separate environment per TensorFlow version (``audits/README.md``);
it needs nothing of this project.
"""

import csv
import logging
import sys
import warnings

import tensorflow as tf
from tensorflow.keras.optimizers import Adam

import os

# The Keras behind tensorflow.keras: Keras 2 (bundled up to TF 2.15; tf_keras with TF_USE_LEGACY_KERAS=1) or Keras 3.
legacy = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
keras_version = __import__("tf_keras" if legacy else "keras").__version__
if not legacy and hasattr(tf.keras, "__version__"):
    keras_version = tf.keras.__version__
row = {"tensorflow": tf.__version__, "tensorflow.keras": keras_version,
       "TF_USE_LEGACY_KERAS": os.environ.get("TF_USE_LEGACY_KERAS", ""), "call": "Adam(lr = 1e-2)"}
logged = []
handler = logging.Handler()
handler.emit = lambda record: logged.append(record.getMessage())
for name in ("", "absl", "tensorflow"):
    logging.getLogger(name).addHandler(handler)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        optimizer = Adam(lr=1e-2)
        row["raised"] = ""
        row["applied_learning_rate"] = f"{float(tf.keras.backend.get_value(optimizer.learning_rate)):g}"
    except Exception as error:  # the call itself is what is measured
        row["raised"] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
        row["applied_learning_rate"] = ""
row["warnings"] = " | ".join(dict.fromkeys(text.splitlines()[0][:120] for text in [*(str(w.message) for w in caught), *logged]))
writer = csv.DictWriter(sys.stdout, fieldnames=list(row))
if "--header" in sys.argv:
    writer.writeheader()
writer.writerow(row)
