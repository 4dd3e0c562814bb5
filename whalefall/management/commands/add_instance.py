"""`manage.py add_instance`: register or update an instance and its credential from the command line."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.choices import DbType
from whalefall.management.base import SafeOutputCommand
from whalefall.models import Credential, Instance
from whalefall.textsafe import safe_text


class Command(SafeOutputCommand):
    help = _(
        "Register (or update) a database instance and its credential. The password is read from "
        "the environment variable named by --password-env, never from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help=gettext("Unique instance name."))
        parser.add_argument("--db-type", required=True, choices=DbType.values, help=gettext("Engine."))
        parser.add_argument("--host", required=True, help=gettext("Host name or IP address."))
        parser.add_argument("--port", type=int, help=gettext("Port (default: the engine's)."))
        parser.add_argument(
            "--database",
            default="",
            help=gettext("Oracle service name; initial DB for SQL Server/PostgreSQL."),
        )
        parser.add_argument("--username", required=True, help=gettext("Monitoring login."))
        parser.add_argument(
            "--password-env",
            required=True,
            metavar="VAR",
            help=gettext("Environment variable holding the password."),
        )
        parser.add_argument("--inactive", action="store_true", help=gettext("Register but do not sync."))
        parser.add_argument(
            "--encryption",
            choices=["off", "request", "require"],
            default="",
            help=gettext("SQL Server: TDS encryption. Oracle: require = TCPS. Default: the driver's."),
        )
        parser.add_argument(
            "--trust-server-certificate",
            action="store_true",
            help=gettext("Encrypt without verifying the server certificate (SQL Server, Oracle TCPS)."),
        )
        parser.add_argument(
            "--sid", action="store_true", help=gettext("Oracle: --database is a SID, not a service name.")
        )
        parser.add_argument(
            "--wallet-location", default="", help=gettext("Oracle TCPS: directory holding ewallet.pem.")
        )
        parser.add_argument(
            "--wallet-password-env",
            metavar="VAR",
            help=gettext("Environment variable holding the wallet password."),
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        var = opts["password_env"]
        if var not in os.environ:
            raise CommandError(
                gettext("environment variable %(var)s is not set (it must hold the password)") % {"var": var}
            )
        password = os.environ[var]
        if opts["port"] is not None and not 0 < opts["port"] < 65536:
            raise CommandError(gettext("--port %(port)s is not a TCP port") % {"port": opts["port"]})
        self._check_lengths(opts)
        wallet_var = opts["wallet_password_env"]
        if wallet_var and wallet_var not in os.environ:
            raise CommandError(
                gettext("environment variable %(var)s is not set (it must hold the wallet password)")
                % {"var": wallet_var}
            )
        options = {
            "tls": opts["encryption"],
            "trust_server_certificate": opts["trust_server_certificate"],
            "oracle_sid": opts["sid"],
            "wallet_location": opts["wallet_location"],
        }
        probe = Instance(db_type=opts["db_type"], database=opts["database"], **options)
        try:
            probe.clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        with transaction.atomic():
            cred, _created = Credential.objects.get_or_create(
                name=f"{opts['name']}-credential", defaults={"username": opts["username"]}
            )
            cred.username = opts["username"]
            cred.set_password(password)
            if wallet_var:
                cred.set_wallet_password(os.environ[wallet_var])
            cred.save()
            instance, created = Instance.objects.update_or_create(
                name=opts["name"],
                defaults={
                    "db_type": opts["db_type"],
                    "host": opts["host"],
                    "port": opts["port"],
                    "database": opts["database"],
                    "credential": cred,
                    "is_active": not opts["inactive"],
                    **options,
                },
            )
        message = (
            gettext("Registered instance %(name)s (%(engine)s %(host)s:%(port)s)")
            if created
            else gettext("Updated instance %(name)s (%(engine)s %(host)s:%(port)s)")
        )
        self.stdout.write(
            message
            % {
                "name": safe_text(instance.name),
                "engine": instance.db_type,
                "host": safe_text(instance.host),
                "port": instance.effective_port,
            },
            style_func=self.style.SUCCESS,
        )

    @staticmethod
    def _check_lengths(opts: dict[str, Any]) -> None:
        """A clean error for a value the database column cannot hold (not a DataError traceback)."""
        suffix = "-credential"  # the credential is named after the instance
        limits = {
            "name": min(
                Instance._meta.get_field("name").max_length or 0,
                (Credential._meta.get_field("name").max_length or 0) - len(suffix),
            ),
            "host": Instance._meta.get_field("host").max_length,
            "database": Instance._meta.get_field("database").max_length,
            "username": Credential._meta.get_field("username").max_length,
        }
        for option, limit in limits.items():
            value = opts[option] or ""
            if limit and len(value) > limit:
                raise CommandError(
                    gettext("--%(option)s is too long: %(length)d characters, at most %(limit)d")
                    % {"option": option, "length": len(value), "limit": limit}
                )
