"""The one exception type users see: a problem with their input or set-up, said in one sentence."""


class SpladeAnseriniError(Exception):
    """A user-facing error; the CLI prints its message (no traceback) and exits with status 2."""


class SetupError(SpladeAnseriniError):
    """Java, Pyserini or a model is missing or unusable."""


class InputError(SpladeAnseriniError):
    """A corpus, topics, qrels or run file is malformed; the message names the file and line."""
