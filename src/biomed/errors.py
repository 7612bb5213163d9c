"""The one user-facing error type: the CLI prints it once as ``Error: …`` (traceback only with BIOMED_DEBUG=1)."""


class BiomedError(Exception):
    """A problem the user can fix: bad input, a missing file, a wrong option. The message says what to do."""
