"""A small family of named errors; the CLI turns each into one clear line, never a traceback."""


class AssistantError(Exception):
    """Base class: anything the user can fix, reported as one line."""


class InputError(AssistantError):
    """A bad question, option or input file (CLI exit code 2)."""


class CorpusError(AssistantError):
    """The corpus could not be loaded or failed strict validation."""


class IndexMissingError(AssistantError):
    """No built index where one was expected."""


class ModelError(AssistantError):
    """The embedding model could not be loaded from local files."""
