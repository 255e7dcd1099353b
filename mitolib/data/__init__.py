"""Data: the EPFL files, generated volumes, reading and checking volumes and user stacks, patches, tf.data.
Imports only :mod:`mitolib.core`."""
