"""The SPLADE model (torch): model names to local files, how texts form batches, and the encoder itself. Importing
this package loads nothing; :mod:`.splade` imports torch."""
