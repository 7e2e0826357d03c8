"""The one exception type users see: a problem with their input or set-up, said in one sentence."""


class SpladeAnseriniError(Exception):
    """A user-facing error; the CLI prints its message (no traceback) and exits with status 2."""


class SetupError(SpladeAnseriniError):
    """Java, Pyserini or a model is missing or unusable."""


class InputError(SpladeAnseriniError):
    """A corpus, topics, qrels or run file is malformed; the message names the file and line."""


class SpladeAnseriniWarning(UserWarning):
    """Something a caller should know about a result that was produced anyway (``warnings.warn``; the CLI prints
    ``warning: <message>``)."""


class MismatchWarning(SpladeAnseriniWarning):
    """Queries searched against an index of another query model or scale, as asked (``--allow-mismatch``); the CLI
    prints it in capitals."""
