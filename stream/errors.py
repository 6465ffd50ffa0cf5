"""The error type for problems a user can act on."""


class UserError(Exception):
    """A problem the user can fix (bad path, unreadable media...), told in one sentence.

    The CLI prints the message without a traceback and exits with ``exit_code``.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
