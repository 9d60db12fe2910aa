"""The one exception hierarchy of csq-intake.

Library code (forms/, scan/, registry/, station/) raises these; only cli.py turns them into
a one-line message on stderr and the exit code the class carries. Each message says what
happened, to which file (and page), and what the person should do next.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    ok = 0
    bad_args = 2
    input_file = 3  # a file we cannot read: missing, empty, corrupt, wrong type
    invalid_data = 4  # a data document that fails validation
    unreadable_page = 5  # a scan we cannot identify or align
    incomplete_stack = 6  # a batch cut short, a separator without an envelope
    database = 7  # registry unreachable, locked, or its schema is newer than this program
    conflict = 8  # a concurrent change won; nothing was overwritten
    permission = 9  # a role may not do this
    not_found = 10
    template = 11  # the form template itself is broken (a developer's error)
    storage = 12  # the data folder is not writable, the disk is full
    other = 15


class CsqError(Exception):
    """Base of every error a person may see. `str(err)` is the one-line message."""

    exit_code = ExitCode.other

    def __init__(self, message: str, *, path: str | None = None, page: int | None = None):
        self.path = path
        self.page = page
        where = ""
        if path:
            where = f"{path}"
            if page is not None:
                where += f", page {page}"
            where += ": "
        super().__init__(f"{where}{message}")


class BadArguments(CsqError):
    exit_code = ExitCode.bad_args


class InputFileError(CsqError):
    exit_code = ExitCode.input_file


class InvalidData(CsqError):
    """A data document failed validation; `problems` holds every problem, not just the first."""

    exit_code = ExitCode.invalid_data

    def __init__(self, message: str, problems=(), *, path: str | None = None):
        self.problems = list(problems)
        super().__init__(message, path=path)


class UnreadablePage(CsqError):
    exit_code = ExitCode.unreadable_page


class IncompleteStack(CsqError):
    exit_code = ExitCode.incomplete_stack


class DatabaseError(CsqError):
    exit_code = ExitCode.database


class ConflictError(CsqError):
    exit_code = ExitCode.conflict


class PermissionDenied(CsqError):
    exit_code = ExitCode.permission


class NotFound(CsqError):
    exit_code = ExitCode.not_found


class TemplateError(CsqError):
    exit_code = ExitCode.template


class StorageError(CsqError):
    exit_code = ExitCode.storage
