"""Errors a user can cause. The CLI prints them as one line (file, line, field) with no traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a missing file, a malformed record, an unknown option or model."""

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None
    ):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        if field is not None:
            where += f"field '{field}': "
        super().__init__(where + message)
        self.path, self.line, self.field = path, line, field
