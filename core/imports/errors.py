"""The problems of an import as people read them: "row 17, email: 'bob@' is not a valid email
address". Row numbers are those a spreadsheet shows: the header is row 1, the first customer
row 2 (a value spanning lines counts once)."""

from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def file_row(row_index: int) -> int:
    """The spreadsheet row of the library's row index (1 for the first data row)."""
    return row_index + 1


@dataclass(frozen=True)
class RowProblem:
    row: int | None  # None: the file as a whole
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "the file"
        column = f", {self.column}" if self.column else ""
        return f"{where}{column}: {self.message.rstrip('.')}"


def validation_problems(row: int, error: ValidationError, column_of) -> list[RowProblem]:
    """One problem per message of a row's ValidationError; ``column_of`` names the column of a
    model field."""
    problems = []
    for name, messages in error.message_dict.items():
        column = "" if name == NON_FIELD_ERRORS else column_of(name)
        problems.extend(RowProblem(row, column, message) for message in messages)
    return problems


def result_problems(result, column_of) -> list[RowProblem]:
    """Every problem of an import result, the file's first, then row by row."""
    problems = [RowProblem(None, "", str(error.error)) for error in result.base_errors]
    for invalid in result.invalid_rows:
        problems.extend(validation_problems(file_row(invalid.number), invalid.error, column_of))
    for number, errors in result.row_errors():
        problems.extend(RowProblem(file_row(number), "", str(error.error)) for error in errors)
    return sorted(problems, key=lambda problem: problem.row or 0)
