"""What the domain modules share."""


class RuleError(Exception):
    """A domain rule refused the operation; `code` names which, and the view turns it into a message."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code
