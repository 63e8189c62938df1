"""What every command shares: one-line errors, the acting administrator, the services, the
output (``output.emit``), and the parsing of hours."""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

import click
import pydantic

from accounting.errors import AccountingError
from accounting.reconcile import Tolerance
from allocator import hours as hours_rule
from allocator.errors import AllocatorError, InvalidInput
from allocator.model import Role, User
from connectors.cli import config
from connectors.cli.output import emit

if TYPE_CHECKING:  # the database side loads only when a command needs it (a fast remote CLI)
    from connectors.bootstrap import Services

F = TypeVar("F", bound=Callable[..., Any])
__all__ = ["CliError", "cli_actor", "emit", "hours_arg", "one_line_errors", "services"]


class CliError(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"gpuhours: error: {self.format_message()}", err=True)


def one_line_errors(func: F) -> F:
    """Translate every known error into one line on stderr and a non-zero exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except (AllocatorError, AccountingError) as exc:
            raise CliError(exc.message) from exc
        except pydantic.ValidationError as exc:  # the settings (GPUHOURS_*) are refused
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "input"
            raise CliError(f"{field}: {first['msg']}") from exc
        except (OSError, ValueError, RuntimeError) as exc:
            raise CliError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc

    return wrapper  # type: ignore[return-value]


class OneLineGroup(click.Group):
    """Usage errors too end in one line on stderr (``gpuhours: error: ...``) and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
            click.echo(f"gpuhours: error: {where}{exc.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("gpuhours: error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def cli_actor() -> User:
    """CLI commands act as an administrator named after the operating-system user."""
    return User(f"cli:{getpass.getuser()}", Role.ADMIN)


LOCAL_KEY = "gpuhours.local"


def services(check_remote: bool = True) -> Services:
    """This host's database. A command that needs it while a server is configured (``gpuhours
    login``) is refused in one line unless ``--local`` says the database is meant."""
    ctx = click.get_current_context()
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "services" not in obj:
        if check_remote and not ctx.meta.get(LOCAL_KEY):
            found = config.remote()
            if found is not None:
                raise CliError(
                    f"{ctx.command_path}: works on the database only, and this machine is "
                    f"logged in to {found.server}: on the server host, "
                    "`gpuhours --local ...`"
                )
        from connectors.bootstrap import build
        from connectors.settings import Settings

        obj["services"] = build(Settings())
    return obj["services"]  # type: ignore[no-any-return]


_KIND = {
    hours_rule.Sign.POSITIVE: "positive",
    hours_rule.Sign.ZERO_OR_MORE: "positive",
    hours_rule.Sign.SIGNED: "signed",
}


def hours_arg(
    value: str, field: str = "hours", sign: hours_rule.Sign = hours_rule.Sign.POSITIVE
) -> Decimal:
    """Hours as the API takes them (``allocator.hours``: the same rule, the same reasons)."""
    try:
        return hours_rule.parse(value, sign)
    except ValueError as exc:
        raise InvalidInput(
            field, f"{value!r} is not a {_KIND[sign]} number of hours ({exc})"
        ) from exc


def tolerance_arg(seconds: int, percent: str) -> Tolerance:
    """``--tolerance-seconds`` and ``--tolerance-percent`` (0..100, to the tenth)."""
    try:
        value = Decimal(percent)
        ok = value.is_finite() and 0 <= value <= 100 and value * 10 == int(value * 10)
    except InvalidOperation:
        ok = False
    if not ok:
        raise InvalidInput("tolerance_percent", f"{percent!r} is not a percentage 0..100 (0.1)")
    if seconds < 0:
        raise InvalidInput("tolerance_seconds", "must not be negative")
    return Tolerance(seconds, int(Decimal(percent) * 10))


def seconds_arg(value: str, field: str = "hours") -> int:
    """Positive hours, as integer seconds."""
    return hours_rule.to_seconds(hours_arg(value, field))


def time_arg(value: str, field: str) -> datetime:
    """An ISO 8601 time with its offset, as the API takes it (``2026-12-15T18:00:00Z``)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "must be an ISO 8601 time (2026-12-15T18:00:00Z)") from None
    if when.tzinfo is None:
        raise InvalidInput(field, "needs its offset (Z or +01:00)")
    return when.astimezone(UTC)
