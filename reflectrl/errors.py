"""The one error type a user sees as a single line (the CLI prints it without a traceback)."""


class ReflectrlError(Exception):
    """A problem with the user's input or environment: bad config, missing model, corrupt data file."""
