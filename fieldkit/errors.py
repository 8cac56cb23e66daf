"""The one exception type domain modules raise for what a user must be told."""
from typing import Optional

from .i18n import N_


class UserError(Exception):
    """A failure to show the user: `message` is a translatable sentence with %(name)s params."""

    message = N_("That did not work.")

    def __init__(self, message: Optional[str] = None, **params):
        self.message = message or self.message
        self.params = params
        super().__init__(self.message % params if params else self.message)
